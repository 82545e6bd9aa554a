#!/usr/bin/env python3
"""Helpers for tests/vm/vm.sh (standard library only).

  vmtool.py inflate VMLINUZ OUT   extract the uncompressed ELF vmlinux from a bzImage
  vmtool.py elfinfo VMLINUX       print "pvh=0|1 btf=0|1" for an ELF vmlinux
  vmtool.py cpio DIR OUT          write DIR as a gzip-compressed newc initramfs
  vmtool.py unko SRC DST          copy a kernel module, decompressing .ko.xz/.ko.gz/.ko.zst
"""
import gzip
import io
import lzma
import os
import stat
import struct
import sys
import zlib

MAGICS = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def _try_decompress(data: bytes, kind: str):
    if kind == "xz":
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        try:
            return dec.decompress(data)
        except lzma.LZMAError:
            return None
    if kind == "gzip":
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            return dec.decompress(data)
        except zlib.error:
            return None
    if kind == "zstd":  # not in the standard library: use the zstd tool if present
        import shutil
        import subprocess
        if not shutil.which("zstd"):
            print("vmtool: the kernel payload is zstd-compressed; install the zstd package",
                  file=sys.stderr)
            return None
        # Trailing bytes after the frame make zstd exit non-zero; the output is still whole.
        res = subprocess.run(["zstd", "-dcq"], input=data, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        return res.stdout
    return None


def _sections(elf: bytes):
    """Yields (name, type, offset, size) of the ELF64 sections, or nothing."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    if shoff == 0 or shoff + shnum * shentsize > len(elf):
        return
    strhdr = shoff + shstrndx * shentsize
    str_off, = struct.unpack_from("<Q", elf, strhdr + 0x18)
    for i in range(shnum):
        h = shoff + i * shentsize
        name_off, sh_type = struct.unpack_from("<II", elf, h)
        off, size = struct.unpack_from("<QQ", elf, h + 0x18)
        end = elf.index(b"\x00", str_off + name_off)
        yield elf[str_off + name_off:end].decode(), sh_type, off, size


def _has_pvh_note(elf: bytes) -> bool:
    # XEN_ELFNOTE_PHYS32_ENTRY (18) in a "Xen" note is what QEMU's PVH loader wants.
    for name, sh_type, off, size in _sections(elf):
        if sh_type != 7:  # SHT_NOTE
            continue
        pos, end = off, off + size
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            nname = elf[pos + 12:pos + 12 + namesz].rstrip(b"\x00")
            if nname == b"Xen" and ntype == 18:
                return True
            pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return False


def _has_btf(elf: bytes) -> bool:
    return any(name == ".BTF" and size > 0 for name, _, _, size in _sections(elf))


def inflate(src: str, out: str) -> int:
    data = open(src, "rb").read()
    for magic, kind in MAGICS:
        start = 0
        while True:
            pos = data.find(magic, start)
            if pos < 0:
                break
            start = pos + 1
            payload = _try_decompress(data[pos:], kind)
            if payload and payload[:4] == b"\x7fELF":
                tmp = out + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(payload)
                os.replace(tmp, out)
                print(f"inflated {kind} payload at offset {pos}: {len(payload)} bytes, "
                      f"pvh={int(_has_pvh_note(payload))} btf={int(_has_btf(payload))}")
                return 0
    print(f"vmtool: no xz/gzip payload that inflates to an ELF found in {src}", file=sys.stderr)
    return 1


def elfinfo(path: str) -> int:
    elf = open(path, "rb").read()
    print(f"pvh={int(_has_pvh_note(elf))} btf={int(_has_btf(elf))}")
    return 0


def cpio(root: str, out: str) -> int:
    """newc archive of root (files, dirs, symlinks), gzip-compressed."""
    buf = io.BytesIO()
    ino = [1]

    def entry(name: str, mode: int, body: bytes, nlink: int = 1):
        name_b = name.encode() + b"\x00"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            ino[0], mode, 0, 0, nlink, 0, len(body), 0, 0, 0, 0, len(name_b), 0))
        ino[0] += 1
        buf.write(hdr.encode())
        buf.write(name_b)
        buf.write(b"\x00" * ((4 - (110 + len(name_b)) % 4) % 4))
        buf.write(body)
        buf.write(b"\x00" * ((4 - len(body) % 4) % 4))

    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            entry(rel, stat.S_IFDIR | 0o755, b"", 2)
        for fn in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
            full = os.path.join(dirpath, fn)
            name = os.path.normpath(os.path.join(rel, fn))
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                entry(name, stat.S_IFLNK | 0o777, os.readlink(full).encode())
            elif stat.S_ISREG(st.st_mode):
                entry(name, stat.S_IFREG | (st.st_mode & 0o777), open(full, "rb").read())
    entry("TRAILER!!!", 0, b"")
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gzip.compress(buf.getvalue(), compresslevel=1))
    os.replace(tmp, out)
    return 0


def unko(src: str, dst: str) -> int:
    data = open(src, "rb").read()
    if src.endswith(".xz"):
        data = lzma.decompress(data)
    elif src.endswith(".gz"):
        data = gzip.decompress(data)
    elif src.endswith(".zst"):
        data = _try_decompress(data, "zstd")
        if not data:
            return 1
    with open(dst, "wb") as f:
        f.write(data)
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "inflate":
        return inflate(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == "elfinfo":
        return elfinfo(argv[2])
    if len(argv) == 4 and argv[1] == "cpio":
        return cpio(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "unko":
        return unko(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
