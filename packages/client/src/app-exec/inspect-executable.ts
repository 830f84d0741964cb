// Tells whether the LD_PRELOAD shim can apply to an executable: ELF without PT_INTERP (static) or setuid/setgid.
import { open, stat } from 'node:fs/promises';

export interface ExecutableInfo {
  /** The file is an ELF executable. */
  elf: boolean;
  /** ELF without a program interpreter (static or static-pie): LD_PRELOAD is ignored. */
  static: boolean;
  /** setuid or setgid bit: the loader drops LD_PRELOAD (secure-execution mode). */
  setuid: boolean;
  /** For `#!` scripts: the interpreter path (inspect it to know whether the shim applies). */
  interpreter?: string;
  /** ELF class (32 or 64 bits) and machine (e_machine): the shim loads only into programs like itself. */
  bits?: 32 | 64;
  machine?: number;
}

const PT_INTERP = 3;

/** Reads an executable's ELF program headers and mode bits. */
export async function inspectExecutable(path: string): Promise<ExecutableInfo> {
  const st = await stat(path);
  const setuid = (st.mode & 0o6000) !== 0;
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await fh.read(head, 0, 64, 0);
    if (bytesRead >= 4 && head.toString('latin1', 0, 2) === '#!') {
      const line = Buffer.alloc(256);
      const { bytesRead: n } = await fh.read(line, 0, 256, 0);
      const first = line.toString('utf8', 2, n).split('\n')[0]!.trim();
      const interpreter = first.split(/\s+/)[0];
      return { elf: false, static: false, setuid, ...(interpreter ? { interpreter } : {}) };
    }
    if (bytesRead < 52 || head.readUInt32BE(0) !== 0x7f454c46) return { elf: false, static: false, setuid };
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32)) : u32(head, 28);
    const phentsize = u16(head, is64 ? 54 : 42);
    const phnum = u16(head, is64 ? 56 : 44);
    const arch = { bits: is64 ? (64 as const) : (32 as const), machine: u16(head, 18) };
    if (phnum === 0 || phentsize < 4 || phnum > 4096) return { elf: true, static: true, setuid, ...arch };
    const table = Buffer.alloc(phentsize * phnum);
    const { bytesRead: got } = await fh.read(table, 0, table.length, phoff);
    let interp = false;
    for (let i = 0; i + 1 <= phnum && (i + 1) * phentsize <= got; i++) {
      if (u32(table, i * phentsize) === PT_INTERP) interp = true;
    }
    return { elf: true, static: !interp, setuid, ...arch };
  } finally {
    await fh.close();
  }
}
