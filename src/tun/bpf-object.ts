// Reads the eBPF objects clang builds from bpf/*.c (ELF64, either byte order) and loads one program
// with its maps: what libbpf does for us, cut down to what our programs use, so the router needs no
// libbpf. Our programs keep to a shape this loader can check: one program section, maps declared in
// the legacy "maps" section (five 32-bit words each), and relocations that only point instructions
// at those maps. Anything else (global data, BPF-to-BPF calls, BTF-defined maps) is refused by name.
import { existsSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TunAddon } from './addon.js';
import { LD_IMM64, PSEUDO_MAP_FD } from './ebpf.js';

/** A map as the object declares it. */
export interface MapDef {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

/** One program of an object, with its instructions as in the file and where it refers to maps. */
export interface BpfObject {
  /** 'LE' or 'BE': the byte order the object was built for. */
  order: 'LE' | 'BE';
  section: string;
  insns: Uint8Array;
  maps: MapDef[];
  /** Instruction index → the map its 64-bit immediate load must point at. */
  mapRefs: { insn: number; map: string }[];
  license: string;
}

export class BpfObjectError extends Error {}

const SHT_SYMTAB = 2;
const SHT_REL = 9;
const R_BPF_64_64 = 1;

interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

function cstr(buf: Uint8Array, off: number): string {
  let end = off;
  while (end < buf.length && buf[end] !== 0) end++;
  return Buffer.from(buf.subarray(off, end)).toString('latin1');
}

/** Parses the object and its program section `section`. Throws BpfObjectError naming what it refuses. */
export function parseBpfObject(file: Uint8Array, section: string): BpfObject {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.length < 64 || dv.getUint32(0) !== 0x7f454c46) throw new BpfObjectError('not an ELF file');
  if (file[4] !== 2) throw new BpfObjectError('not a 64-bit ELF object');
  const le = file[5] === 1;
  const order = le ? 'LE' : 'BE';
  if (dv.getUint16(18, le) !== 247) throw new BpfObjectError('not an eBPF object (e_machine)');
  const u16 = (o: number) => dv.getUint16(o, le);
  const u32 = (o: number) => dv.getUint32(o, le);
  const u64 = (o: number) => Number(dv.getBigUint64(o, le));
  const shoff = u64(40);
  const shentsize = u16(58);
  const shnum = u16(60);
  const shstrndx = u16(62);
  if (shentsize !== 64 || shoff + shnum * 64 > file.length) throw new BpfObjectError('bad section headers');
  const raw: (Omit<Section, 'name'> & { nameOff: number })[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * 64;
    const s = {
      nameOff: u32(h),
      type: u32(h + 4),
      offset: u64(h + 24),
      size: u64(h + 32),
      link: u32(h + 40),
      info: u32(h + 44),
      entsize: u64(h + 56),
    };
    if (s.type !== 8 && s.offset + s.size > file.length)
      throw new BpfObjectError(`section ${i} is cut short`);
    raw.push(s);
  }
  const strtab = raw[shstrndx];
  const sections: Section[] = raw.map((s) => ({ ...s, name: cstr(file, strtab.offset + s.nameOff) }));
  const byName = (n: string) => sections.findIndex((s) => s.name === n);
  const progIdx = byName(section);
  if (progIdx < 0) throw new BpfObjectError(`no program section '${section}'`);
  const prog = sections[progIdx];
  const mapsIdx = byName('maps');
  const symIdx = sections.findIndex((s) => s.type === SHT_SYMTAB);
  if (symIdx < 0) throw new BpfObjectError('no symbol table');
  const symtab = sections[symIdx];
  const symstr = sections[symtab.link];

  interface Sym {
    name: string;
    shndx: number;
    value: number;
  }
  const syms: Sym[] = [];
  for (let o = symtab.offset; o + 24 <= symtab.offset + symtab.size; o += 24) {
    syms.push({ name: cstr(file, symstr.offset + u32(o)), shndx: u16(o + 6), value: u64(o + 8) });
  }

  // Maps: every symbol in the maps section is one struct of five words.
  const maps: MapDef[] = [];
  if (mapsIdx >= 0) {
    const m = sections[mapsIdx];
    for (const s of syms) {
      if (s.shndx !== mapsIdx || s.name === '' || s.name === 'maps') continue;
      const o = m.offset + s.value;
      if (s.value + 20 > m.size) throw new BpfObjectError(`map ${s.name} is cut short`);
      maps.push({
        name: s.name,
        type: u32(o),
        keySize: u32(o + 4),
        valueSize: u32(o + 8),
        maxEntries: u32(o + 12),
        flags: u32(o + 16),
      });
    }
  }

  // Relocations of the program section: 64-bit immediate loads of a map, nothing else.
  const mapRefs: { insn: number; map: string }[] = [];
  const relIdx = sections.findIndex((s) => s.type === SHT_REL && s.info === progIdx);
  if (relIdx >= 0) {
    const rel = sections[relIdx];
    for (let o = rel.offset; o + 16 <= rel.offset + rel.size; o += 16) {
      const at = u64(o);
      const info = dv.getBigUint64(o + 8, le);
      const type = Number(info & 0xffffffffn);
      const sym = syms[Number(info >> 32n)];
      if (!sym) throw new BpfObjectError(`relocation at ${at} names no symbol`);
      const insn = at / 8;
      if (type !== R_BPF_64_64 || sym.shndx !== mapsIdx || at % 8 !== 0 || at + 16 > prog.size)
        throw new BpfObjectError(
          `relocation at instruction ${insn} (type ${type}, symbol '${sym.name}') is not a map reference: only maps are supported`,
        );
      if (file[prog.offset + at] !== LD_IMM64)
        throw new BpfObjectError(`relocation at instruction ${insn} is not on a 64-bit immediate load`);
      mapRefs.push({ insn, map: sym.name });
    }
  }
  const licIdx = byName('license');
  const license = licIdx >= 0 ? cstr(file, sections[licIdx].offset) : '';
  if (prog.size === 0 || prog.size % 8 !== 0)
    throw new BpfObjectError(`program section '${section}' is empty`);
  return {
    order,
    section,
    insns: file.slice(prog.offset, prog.offset + prog.size),
    maps,
    mapRefs,
    license,
  };
}

/** A program loaded with its own maps: fds to close when done (closing the program detaches nothing). */
export interface LoadedProgram {
  prog: number;
  /** The maps this load created (not the ones it was given). */
  maps: Map<string, number>;
  defs: Map<string, MapDef>;
}

/** Creates the object's maps, points its instructions at them and loads the program. */
export function loadBpfObject(
  addon: TunAddon,
  obj: BpfObject,
  progType: number,
  /** Map sizes the caller chooses (map name → max entries) instead of the object's own. */
  sizes: Readonly<Record<string, number>> = {},
  /**
   * Maps already created (another program of the same object, loaded before): used as they are, so
   * both programs share them; the caller keeps owning them.
   */
  shared: ReadonlyMap<string, number> = new Map(),
): LoadedProgram {
  const host = endianness();
  if (obj.order !== host)
    throw new BpfObjectError(`the object is built for ${obj.order} byte order, this machine is ${host}`);
  const maps = new Map<string, number>();
  const defs = new Map<string, MapDef>();
  const closeAll = () => {
    for (const fd of maps.values()) addon.close(fd);
  };
  try {
    for (const m of obj.maps) {
      if (shared.has(m.name)) continue;
      const def = Object.hasOwn(sizes, m.name) ? { ...m, maxEntries: sizes[m.name] } : m;
      maps.set(
        m.name,
        addon.bpfMapCreate(def.type, def.keySize, def.valueSize, def.maxEntries, def.flags, m.name),
      );
      defs.set(m.name, def);
    }
    const insns = obj.insns.slice();
    const dv = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
    const le = host === 'LE';
    for (const r of obj.mapRefs) {
      const fd = maps.get(r.map) ?? shared.get(r.map);
      if (fd === undefined)
        throw new BpfObjectError(`instruction ${r.insn} refers to unknown map '${r.map}'`);
      const o = r.insn * 8;
      // The registers byte: dst in the low nibble on little-endian machines, the high one on big.
      const regs = insns[o + 1];
      insns[o + 1] = le ? (regs & 0x0f) | (PSEUDO_MAP_FD << 4) : (regs & 0xf0) | PSEUDO_MAP_FD;
      dv.setInt32(o + 4, fd, le);
      dv.setInt32(o + 12, 0, le);
    }
    return { prog: addon.bpfLoad(progType, insns), maps, defs };
  } catch (err) {
    closeAll();
    throw err;
  }
}

/** Where the built objects are: TUNGUARD_BPF_DIR, beside the bundle, or dist/bpf of the source tree. */
export function bpfObjectPath(name: string): string {
  const fromEnv = process.env.TUNGUARD_BPF_DIR;
  const file = `${name}.bpf${endianness() === 'LE' ? 'el' : 'eb'}.o`;
  if (fromEnv) {
    if (existsSync(join(fromEnv, file))) return join(fromEnv, file);
    throw new BpfObjectError(`eBPF object ${file} not found in TUNGUARD_BPF_DIR (${fromEnv})`);
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const cand of [join(dir, 'bpf', file), join(dir, 'dist', 'bpf', file)])
      if (existsSync(cand)) return cand;
    dir = dirname(dir);
  }
  throw new BpfObjectError(
    `eBPF object ${file} not found: run 'npm run build' (needs clang) or set TUNGUARD_BPF_DIR`,
  );
}

export function readBpfObject(name: string, section: string): BpfObject {
  return parseBpfObject(readFileSync(bpfObjectPath(name)), section);
}
