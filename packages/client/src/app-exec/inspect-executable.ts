// Tells whether the LD_PRELOAD shim can apply to an executable: ELF without PT_INTERP (static), setuid/setgid, or a Go
// program (Go makes its own system calls, so the shim never sees its sockets even when it is dynamically linked).
//
// A bounded reader, not a general ELF library: it reads the ELF header, at most MAX_PHDRS program headers, the
// PT_NOTE segments (at most MAX_NOTE bytes each) and at most MAX_SHDRS section headers with their name table (at most
// MAX_SHSTRTAB bytes), never the whole file (kubectl or firefox are tens of megabytes). The npm ELF parsers (elfy,
// elf-tools) take the whole file as one Buffer, which is why this one exists.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

export interface ExecutableInfo {
  /** The file is an ELF executable. */
  elf: boolean;
  /** ELF without a program interpreter (static or static-pie): LD_PRELOAD is ignored. */
  static: boolean;
  /**
   * A setuid bit to another user than the runner, or a setgid bit to another group: the effective id changes, so the
   * loader runs in secure-execution mode and drops LD_PRELOAD. (A setuid file of the runner's own changes nothing.)
   */
  setuid: boolean;
  /** File capabilities (security.capability, e.g. ping's cap_net_raw): secure-execution mode too. Set only when true. */
  caps?: true;
  /** A Go program (`.go.buildinfo` section or Go build-id note): its own syscalls bypass the shim, static or not. */
  go?: boolean;
  /** For `#!` scripts: the interpreter path (inspect it to know whether the shim applies). */
  interpreter?: string;
  /** ELF class (32 or 64 bits) and machine (e_machine): the shim loads only into programs like itself. */
  bits?: 32 | 64;
  machine?: number;
}

const PT_INTERP = 3;
const PT_NOTE = 4;
/** Go's build-id note: name "Go", type 4 (cmd/internal/objfile, debug/buildinfo). */
const GO_NOTE_TYPE = 4;
const MAX_PHDRS = 256;
const MAX_NOTE = 4096;
const MAX_NOTE_SEGMENTS = 16;
const MAX_SHDRS = 4096;
const MAX_SHSTRTAB = 65536;

async function readAt(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  if (length <= 0 || position < 0 || !Number.isSafeInteger(position)) return Buffer.alloc(0);
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/** Little/big-endian, 32/64-bit field readers for one ELF file. */
function fields(is64: boolean, le: boolean) {
  const u16 = (b: Buffer, o: number) => (o + 2 <= b.length ? (le ? b.readUInt16LE(o) : b.readUInt16BE(o)) : 0);
  const u32 = (b: Buffer, o: number) => (o + 4 <= b.length ? (le ? b.readUInt32LE(o) : b.readUInt32BE(o)) : 0);
  const u64 = (b: Buffer, o: number) => {
    if (o + 8 > b.length) return 0;
    const v = le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
  };
  const addr = (b: Buffer, o: number) => (is64 ? u64(b, o) : u32(b, o));
  return { u16, u32, addr };
}

/** Whether a PT_NOTE segment's bytes hold Go's build-id note. */
function hasGoNote(notes: Buffer, u32: (b: Buffer, o: number) => number): boolean {
  let o = 0;
  while (o + 12 <= notes.length) {
    const namesz = u32(notes, o);
    const descsz = u32(notes, o + 4);
    const type = u32(notes, o + 8);
    const name = notes.subarray(o + 12, o + 12 + namesz);
    if (namesz === 4 && type === GO_NOTE_TYPE && name.toString('latin1') === 'Go\0\0') return true;
    const next = o + 12 + Math.ceil(namesz / 4) * 4 + Math.ceil(descsz / 4) * 4;
    if (next <= o || namesz > MAX_NOTE || descsz > MAX_NOTE) return false;
    o = next;
  }
  return false;
}

/** Who will run the program (exec runs it as the caller). */
export interface Runner {
  uid: number;
  gid: number;
}

/** Reads an executable's ELF program headers, notes, section names and mode bits, for a program run by `runner`. */
export async function inspectExecutable(path: string, runner: Runner = { uid: process.getuid!(), gid: process.getgid!() }): Promise<ExecutableInfo> {
  const st = await stat(path);
  const setuid = ((st.mode & 0o4000) !== 0 && st.uid !== runner.uid) || ((st.mode & 0o2000) !== 0 && st.gid !== runner.gid);
  const fh = await open(path, 'r');
  try {
    const head = await readAt(fh, 64, 0);
    if (head.length >= 4 && head.toString('latin1', 0, 2) === '#!') {
      const line = await readAt(fh, 256, 0);
      const first = line.toString('utf8', 2).split('\n')[0]!.trim();
      const interpreter = first.split(/\s+/)[0];
      return { elf: false, static: false, setuid, ...(interpreter ? { interpreter } : {}) };
    }
    if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46 || (head[4] !== 1 && head[4] !== 2) || (head[5] !== 1 && head[5] !== 2)) {
      return { elf: false, static: false, setuid };
    }
    const is64 = head[4] === 2;
    if (is64 && head.length < 64) return { elf: false, static: false, setuid };
    const { u16, u32, addr } = fields(is64, head[5] === 1);
    const arch = { bits: is64 ? (64 as const) : (32 as const), machine: u16(head, 18) };
    const phoff = addr(head, is64 ? 32 : 28);
    const shoff = addr(head, is64 ? 40 : 32);
    const phentsize = u16(head, is64 ? 54 : 42);
    const phnum = u16(head, is64 ? 56 : 44);
    const shentsize = u16(head, is64 ? 58 : 46);
    const shnum = u16(head, is64 ? 60 : 48);
    const shstrndx = u16(head, is64 ? 62 : 50);

    let interp = false;
    let go = false;
    const minPh = is64 ? 56 : 32;
    if (phnum > 0 && phnum <= MAX_PHDRS && phentsize >= minPh && phoff > 0) {
      const table = await readAt(fh, phentsize * phnum, phoff);
      let notes = 0;
      for (let i = 0; (i + 1) * phentsize <= table.length; i++) {
        const at = i * phentsize;
        const type = u32(table, at);
        if (type === PT_INTERP) interp = true;
        if (type === PT_NOTE && !go && notes++ < MAX_NOTE_SEGMENTS) {
          const off = addr(table, at + (is64 ? 8 : 4));
          const size = addr(table, at + (is64 ? 32 : 16));
          if (off > 0 && size > 0) go = hasGoNote(await readAt(fh, Math.min(size, MAX_NOTE), off), u32);
        }
      }
    }
    const minSh = is64 ? 64 : 40;
    if (!go && shnum > 0 && shnum <= MAX_SHDRS && shentsize >= minSh && shoff > 0 && shstrndx < shnum) {
      const table = await readAt(fh, shentsize * shnum, shoff);
      const strOff = addr(table, shstrndx * shentsize + (is64 ? 24 : 16));
      const strSize = addr(table, shstrndx * shentsize + (is64 ? 32 : 20));
      const names = strOff > 0 && strSize > 0 ? await readAt(fh, Math.min(strSize, MAX_SHSTRTAB), strOff) : Buffer.alloc(0);
      const want = Buffer.from('.go.buildinfo\0', 'latin1');
      for (let i = 0; !go && (i + 1) * shentsize <= table.length; i++) {
        const name = u32(table, i * shentsize);
        if (name + want.length <= names.length && names.subarray(name, name + want.length).equals(want)) go = true;
      }
    }
    return { elf: true, static: !interp, setuid, go, ...arch, ...((await hasFileCaps(path)) ? { caps: true as const } : {}) };
  } finally {
    await fh.close();
  }
}

const GETCAP = ['/usr/sbin/getcap', '/sbin/getcap'];

/** Whether a file has file capabilities, asked of getcap (libcap2-bin; node cannot read xattrs); false without it. */
export function hasFileCaps(path: string): Promise<boolean> {
  const getcap = GETCAP.find((p) => existsSync(p));
  if (!getcap) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile(getcap, [path], { timeout: 5000, encoding: 'utf8' }, (err, stdout) => resolve(!err && stdout.trim() !== ''));
  });
}

/** Why the shim cannot cover a program, in a few words (undefined when it can). */
export function uncoveredReasons(info: ExecutableInfo, shim?: ExecutableInfo): string[] {
  const out: string[] = [];
  if (info.elf && info.go) out.push(info.static ? 'a statically linked Go program' : 'a Go program (Go makes its own system calls, even when dynamically linked)');
  else if (info.elf && info.static) out.push('statically linked');
  if (info.elf && !info.static && shim?.bits && info.bits && (info.bits !== shim.bits || info.machine !== shim.machine)) {
    out.push(`a ${info.bits}-bit program (ELF machine ${info.machine}), unlike the ${shim.bits}-bit shim (machine ${shim.machine})`);
  }
  if (info.setuid) out.push('setuid/setgid (the loader drops LD_PRELOAD)');
  if (info.caps) out.push('a program with file capabilities (the loader drops LD_PRELOAD)');
  return out;
}
