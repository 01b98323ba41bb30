"""protobuf_wire.py - a bounded reader of the protobuf wire format (Python 3 standard library only).

Written from the encoding specification (protobuf.dev/programming-guides/encoding): a message
is a sequence of fields, each a key varint (field number << 3 | wire type) followed by a
varint (wire type 0), 8 bytes (1), a length-prefixed span (2) or 4 bytes (5); wire types 3
and 4 (groups) are obsolete and refused. decode() reads a message against a schema (a dict
field number -> Field) into a dict: singular fields keep their last value (embedded messages
merge, as protobuf merges repeated occurrences), repeated fields become lists, and repeated
numbers are accepted packed or not. Fields the schema does not name are checked and skipped.

Nothing is trusted: every length is checked against the bytes left in its enclosing span
before anything is sliced, varints are at most 10 bytes, nesting is bounded by MAX_DEPTH,
and the number of fields decoded from one buffer is bounded by the buffer's size (every
field takes at least two bytes), so decoding time is linear in the input. Large byte fields
(Field.span) stay zero-copy memoryview slices of the input.
"""
import array
import struct
import sys

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
MAX_DEPTH = 32              # embedded messages inside one another
MAX_REPEATED = 1 << 24      # entries of one repeated field


class WireError(Exception):
    pass


class Field:
    """One schema entry. kind: 'int64', 'int32', 'uint64', 'bool', 'float', 'double',
    'string', 'bytes' or 'message' (then sub is the sub-schema, or a callable returning it
    for recursive schemas). repeated: a list. span: a bytes field kept as a memoryview."""
    __slots__ = ('name', 'kind', 'repeated', 'sub', 'span')

    def __init__(self, name, kind, repeated=False, sub=None, span=False):
        self.name, self.kind, self.repeated, self.sub, self.span = name, kind, repeated, sub, span


SCALAR_WIRE = {'int64': VARINT, 'int32': VARINT, 'uint64': VARINT, 'bool': VARINT, 'float': I32,
               'double': I64, 'string': LEN, 'bytes': LEN, 'message': LEN}


def read_varint(buf, pos, end):
    """(value, next position) of the varint at buf[pos:end]; at most 10 bytes, value < 2^64."""
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError('truncated varint at byte %d' % pos)
        b = buf[pos]
        pos += 1
        if shift == 63 and b > 1:
            raise WireError('varint at byte %d does not fit 64 bits' % (pos - 1))
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError('varint longer than 10 bytes at byte %d' % pos)


def fields(buf, start, end):
    """Yields (field number, wire type, value, span end) for the message in buf[start:end].
    value: the integer for wire types 0, 1, 5 (raw bits), the span start for 2 (the span is
    buf[value:span end])."""
    pos = start
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        num, wt = key >> 3, key & 7
        if num < 1 or num > (1 << 29) - 1:
            raise WireError('field number %d out of range at byte %d' % (num, pos))
        if wt == VARINT:
            v, pos = read_varint(buf, pos, end)
            yield num, wt, v, pos
        elif wt == I64:
            if end - pos < 8:
                raise WireError('truncated 64-bit field %d at byte %d' % (num, pos))
            yield num, wt, int.from_bytes(buf[pos:pos + 8], 'little'), pos + 8
            pos += 8
        elif wt == I32:
            if end - pos < 4:
                raise WireError('truncated 32-bit field %d at byte %d' % (num, pos))
            yield num, wt, int.from_bytes(buf[pos:pos + 4], 'little'), pos + 4
            pos += 4
        elif wt == LEN:
            n, pos = read_varint(buf, pos, end)
            if n > end - pos:
                raise WireError('field %d claims %d bytes at byte %d, only %d left' % (num, n, pos, end - pos))
            yield num, wt, pos, pos + n
            pos += n
        else:
            raise WireError('wire type %d (field %d) at byte %d is not supported' % (wt, num, pos))


def signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _scalar(kind, wt, v, buf, s_end):
    if kind == 'int64':
        return signed64(v)
    if kind == 'int32':
        v = signed64(v)
        if not -(1 << 31) <= v < 1 << 31:
            raise WireError('int32 value %d out of range' % v)
        return v
    if kind == 'uint64':
        return v
    if kind == 'bool':
        return v != 0
    if kind == 'float':
        return struct.unpack('<f', v.to_bytes(4, 'little'))[0]
    if kind == 'double':
        return struct.unpack('<d', v.to_bytes(8, 'little'))[0]
    raise AssertionError(kind)


def _packed(kind, buf, s, e):
    """The numbers of a packed repeated field in buf[s:e]."""
    n = e - s
    if kind == 'float':
        if n % 4:
            raise WireError('packed floats of %d bytes' % n)
        a = array.array('f')
        a.frombytes(bytes(buf[s:e]))
        if sys.byteorder != 'little':
            a.byteswap()
        return a
    if kind == 'double':
        if n % 8:
            raise WireError('packed doubles of %d bytes' % n)
        a = array.array('d')
        a.frombytes(bytes(buf[s:e]))
        if sys.byteorder != 'little':
            a.byteswap()
        return a
    out, pos = [], s
    while pos < e:
        v, pos = read_varint(buf, pos, e)
        out.append(_scalar(kind, VARINT, v, buf, e))
    return out


def decode(buf, schema, start=0, end=None, depth=0, into=None):
    """Decodes the message buf[start:end] against schema into a dict (into, if given:
    merging). Missing singular fields are absent from the dict; repeated ones are []."""
    if end is None:
        end = len(buf)
    if depth > MAX_DEPTH:
        raise WireError('messages nested more than %d deep' % MAX_DEPTH)
    out = into if into is not None else {}
    for f in schema.values():
        if f.repeated and f.name not in out:
            out[f.name] = []
    for num, wt, v, e in fields(buf, start, end):
        f = schema.get(num)
        if f is None:
            continue
        want = SCALAR_WIRE[f.kind]
        if f.repeated and wt == LEN and f.kind not in ('string', 'bytes', 'message'):
            lst = out[f.name]
            vals = _packed(f.kind, buf, v, e)
            if len(lst) + len(vals) > MAX_REPEATED:
                raise WireError('%s: more than %d entries' % (f.name, MAX_REPEATED))
            if isinstance(vals, array.array) and isinstance(lst, list) and not lst:
                out[f.name] = vals
            else:
                lst.extend(vals)
            continue
        if wt != want:
            raise WireError('field %s (%d) has wire type %d, expected %d' % (f.name, num, wt, want))
        if f.kind == 'message':
            sub = f.sub() if callable(f.sub) else f.sub
            if f.repeated:
                lst = out[f.name]
                if len(lst) >= MAX_REPEATED:
                    raise WireError('%s: more than %d entries' % (f.name, MAX_REPEATED))
                lst.append(decode(buf, sub, v, e, depth + 1))
            else:
                out[f.name] = decode(buf, sub, v, e, depth + 1, out.get(f.name))
            continue
        if f.kind in ('string', 'bytes'):
            if f.kind == 'string':
                try:
                    val = bytes(buf[v:e]).decode('utf-8')
                except UnicodeDecodeError:
                    raise WireError('field %s is not valid UTF-8' % f.name)
            else:
                val = memoryview(buf)[v:e] if f.span else bytes(buf[v:e])
        else:
            val = _scalar(f.kind, wt, v, buf, e)
        if f.repeated:
            lst = out[f.name]
            if len(lst) >= MAX_REPEATED:
                raise WireError('%s: more than %d entries' % (f.name, MAX_REPEATED))
            lst.append(val)
        else:
            out[f.name] = val
    return out


# ---------------------------------------------------------------- writing (for tests and tools)

def enc_varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc_key(num, wt):
    return enc_varint(num << 3 | wt)


def enc_len(num, payload):
    """A length-delimited field (string, bytes, embedded message, packed numbers)."""
    return enc_key(num, LEN) + enc_varint(len(payload)) + bytes(payload)


def enc_int(num, v):
    return enc_key(num, VARINT) + enc_varint(v)


def enc_float(num, v):
    return enc_key(num, I32) + struct.pack('<f', v)
