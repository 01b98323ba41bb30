#!/usr/bin/env python3
"""Writes the IDX reader's fixtures into tests/data/idx/ with Python's own struct, gzip and zlib
(the oracle for tests/test_idx.c): valid files in every form the reader takes and their decoded
values (expected.txt), and hostile files with the status the reader must refuse them with
(hostile.txt: name status words-the-message-must-contain). Deterministic; development time only.

    python3 tests/ref/make_idx_fixtures.py
"""
import gzip, os, random, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'data', 'idx')
rng = random.Random(18)


def idx(dims, values, typ=0x08):
    return bytes([0, 0, typ, len(dims)]) + b''.join(struct.pack('>I', d) for d in dims) + bytes(values)


def member(payload, flags=0, extra=b'', name=b'', comment=b'', hcrc=None, level=6, crc=None, isize=None):
    """One RFC 1952 member built by hand (Python's gzip writes only FNAME)."""
    head = bytes([0x1f, 0x8b, 8, flags]) + struct.pack('<I', 1234567890) + bytes([0, 3])
    if flags & 4:
        head += struct.pack('<H', len(extra)) + extra
    if flags & 8:
        head += name + b'\0'
    if flags & 16:
        head += comment + b'\0'
    if flags & 2:
        head += struct.pack('<H', (zlib.crc32(head) & 0xFFFF) if hcrc is None else hcrc)
    co = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = co.compress(payload) + co.flush()
    trailer = struct.pack('<II', zlib.crc32(payload) if crc is None else crc,
                          (len(payload) & 0xFFFFFFFF) if isize is None else isize)
    return head + body + trailer


def write(name, data):
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = []

    def valid(name, dims, values, data):
        write(name, data)
        expected.append('%s %d %s %s' % (name, len(dims), ' '.join(map(str, dims)), bytes(values).hex()))

    img = [rng.randrange(256) for _ in range(3 * 5 * 4)]
    lab = [rng.randrange(10) for _ in range(7)]
    vol = [rng.randrange(256) for _ in range(2 * 3 * 2 * 2)]
    valid('images.idx', [3, 5, 4], img, idx([3, 5, 4], img))
    valid('images.idx.gz', [3, 5, 4], img, gzip.compress(idx([3, 5, 4], img), mtime=0))
    valid('labels.idx.gz', [7], lab, gzip.compress(idx([7], lab), compresslevel=9, mtime=0))
    valid('volume4d.idx', [2, 3, 2, 2], vol, idx([2, 3, 2, 2], vol))
    valid('fields.gz', [3, 5, 4], img, member(idx([3, 5, 4], img), flags=4 | 8 | 16 | 2, extra=b'AB\x02\x00xy',
                                              name=b'images.idx', comment=b'made by make_idx_fixtures.py'))
    valid('stored.gz', [3, 5, 4], img, member(idx([3, 5, 4], img), level=0))
    big = [rng.randrange(4) for _ in range(10 * 28 * 28)]  # several deflate blocks, dynamic codes
    valid('images10.idx.gz', [10, 28, 28], big, gzip.compress(idx([10, 28, 28], big), mtime=0))

    hostile = []

    def bad(name, status, words, data):
        write(name, data)
        hostile.append('%s %s %s' % (name, status, words))

    good = idx([3, 5, 4], img)
    bad('empty.idx', 'GC_ERR_FORMAT', 'truncated', b'')
    bad('magic.idx', 'GC_ERR_FORMAT', 'magic', b'\x01' + good[1:])
    bad('float.idx', 'GC_ERR_UNSUPPORTED', 'float32', bytes([0, 0, 0x0D, 1]) + struct.pack('>I', 2) + b'\0' * 8)
    bad('type.idx', 'GC_ERR_FORMAT', 'type', bytes([0, 0, 0x07, 1]) + struct.pack('>I', 2) + b'\0' * 2)
    bad('ndim0.idx', 'GC_ERR_FORMAT', '0 dimensions', bytes([0, 0, 8, 0]))
    bad('ndim5.idx', 'GC_ERR_UNSUPPORTED', 'dimensions', idx([1, 1, 1, 1, 2], [0, 0]))
    bad('dim0.idx', 'GC_ERR_FORMAT', 'dimension 1 is 0', idx([3, 0, 4], []))
    bad('short_header.idx', 'GC_ERR_FORMAT', 'header', good[:9])
    bad('truncated.idx', 'GC_ERR_FORMAT', 'truncated', good[:-1])
    bad('trailing.idx', 'GC_ERR_FORMAT', 'values', good + b'\0')
    bad('huge.idx', 'GC_ERR_LIMIT', 'limit', idx([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], []))
    bad('overflow.idx', 'GC_ERR_LIMIT', 'limit', idx([0xFFFFFFFF] * 4, []))
    gz = gzip.compress(good, mtime=0)
    bad('gz_truncated.gz', 'GC_ERR_FORMAT', 'truncated', gz[:len(gz) // 2])
    bad('gz_no_trailer.gz', 'GC_ERR_FORMAT', 'trailer', gz[:-5])
    bad('gz_crc.gz', 'GC_ERR_FORMAT', 'CRC-32', member(good, crc=zlib.crc32(good) ^ 1))
    bad('gz_isize.gz', 'GC_ERR_FORMAT', 'size', member(good, isize=len(good) + 1))
    bad('gz_trailing.gz', 'GC_ERR_FORMAT', 'after the first member', gz + gz)
    bad('gz_method.gz', 'GC_ERR_UNSUPPORTED', 'method', gz[:2] + b'\x07' + gz[3:])
    bad('gz_flags.gz', 'GC_ERR_FORMAT', 'reserved', gz[:3] + b'\x20' + gz[4:])
    bad('gz_hcrc.gz', 'GC_ERR_FORMAT', 'header CRC', member(good, flags=2, hcrc=0xBEEF))
    bad('gz_name.gz', 'GC_ERR_FORMAT', 'file name', member(good, flags=8)[:10] + b'no terminator')
    bad('gz_extra.gz', 'GC_ERR_FORMAT', 'extra', member(good, flags=4)[:10] + b'\xff\xff' + b'x' * 20)
    bad('gz_block3.gz', 'GC_ERR_FORMAT', 'block type', gz[:10] + b'\x07' + gz[11:])
    bad('gz_notidx.gz', 'GC_ERR_FORMAT', 'magic', gzip.compress(b'hello, this is text\n', mtime=0))
    # an IDX header of 1 Gi values and 16 MiB of zeros: refused while inflating (the tests use max_bytes 1 MiB and the default)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload_head = idx([1 << 15, 1 << 15], [])
    body = co.compress(payload_head)
    chunk = b'\0' * (1 << 20)
    crc = zlib.crc32(payload_head)
    for _ in range(1 << 4):
        body += co.compress(chunk)
        crc = zlib.crc32(chunk, crc)
    body += co.flush()
    bomb = bytes([0x1f, 0x8b, 8, 0]) + b'\0' * 4 + bytes([2, 3]) + body + \
        struct.pack('<II', crc, (len(payload_head) + (1 << 24)) & 0xFFFFFFFF)
    bad('gz_bomb.gz', 'GC_ERR_LIMIT', 'limit', bomb)

    with open(os.path.join(OUT, 'expected.txt'), 'w') as f:
        f.write('# name ndim dims... values-as-hex (written by tests/ref/make_idx_fixtures.py)\n')
        f.write('\n'.join(expected) + '\n')
    with open(os.path.join(OUT, 'hostile.txt'), 'w') as f:
        f.write('# name status words (written by tests/ref/make_idx_fixtures.py)\n')
        f.write('\n'.join(hostile) + '\n')


if __name__ == '__main__':
    main()
