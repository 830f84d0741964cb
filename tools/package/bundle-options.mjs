// How each CLI is bundled into the one ESM file the .deb installs (build-deb.mjs) and the peers bench times as the
// shipped program (tools/bench): one definition, so the bench measures what users run.
import { build } from 'esbuild';

/** esbuild options bundling the built entry `entryFile` (packages/…/dist/*.js) into `outfile`. */
export function bundleOptions(entryFile, outfile) {
  return {
    entryPoints: [entryFile], outfile, bundle: true, platform: 'node', target: 'node20', format: 'esm',
    // ssh2's optional native helpers (sshcrypto.node, cpu-features) are loaded in try/catch: the pure-JS paths are used.
    external: ['*.node', 'cpu-features'],
    // CommonJS dependencies (ssh2) use require, __filename and __dirname: give the ESM bundle all three.
    banner: {
      js: [
        "import { createRequire as __egressCreateRequire } from 'node:module';",
        "import { fileURLToPath as __egressFileURLToPath } from 'node:url';",
        "import { dirname as __egressDirname } from 'node:path';",
        'const require = __egressCreateRequire(import.meta.url);',
        'const __filename = __egressFileURLToPath(import.meta.url);',
        'const __dirname = __egressDirname(__filename);',
      ].join(' '),
    },
    legalComments: 'none', logLevel: 'warning',
  };
}

/** Bundles one program (see bundleOptions). */
export async function bundleProgram(entryFile, outfile) {
  await build(bundleOptions(entryFile, outfile));
}
