"""Small GGUF v3 writer (written from the GGUF format description; no deps but numpy).

Layout written (all little-endian):
  magic "GGUF" | u32 version=3 | u64 n_tensors | u64 n_kv
  n_kv x (string key | u32 value_type | value)
  n_tensors x (string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset)
  zero padding to `alignment`
  tensor data, each tensor starting at a multiple of `alignment` (offsets are
  relative to the start of the data section), zero padded in between and at the end.
A string is u64 byte length + UTF-8 bytes (no NUL). ne[0] is the innermost
(contiguous, row length) dimension, i.e. the numpy shape reversed.
An array value is u32 element type | u64 count | elements.

Usage:
    w = GGUFWriter("out.gguf")
    w.add_string("general.architecture", "llada")
    w.add_uint32("llada.block_count", 6)
    w.add_array("tokenizer.ggml.tokens", ["a", "b"])          # type inferred
    w.add_tensor("token_embd.weight", np_array, GGMLType.F16)  # converts
    w.write()
"""
import struct
import numpy as np


class GGUFValueType:
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


class GGMLType:
    F32 = 0
    F16 = 1
    Q8_0 = 8
    BF16 = 30


# (block size in elements, bytes per block)
GGML_TYPE_SIZE = {
    GGMLType.F32: (1, 4),
    GGMLType.F16: (1, 2),
    GGMLType.Q8_0: (32, 34),
    GGMLType.BF16: (1, 2),
}

_SCALAR_FMT = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
GGUF_DEFAULT_ALIGNMENT = 32


def _pack_string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _infer_type(v):
    if isinstance(v, bool):
        return GGUFValueType.BOOL
    if isinstance(v, int):
        return GGUFValueType.INT32 if -2**31 <= v < 2**31 else GGUFValueType.INT64
    if isinstance(v, float):
        return GGUFValueType.FLOAT32
    if isinstance(v, (str, bytes)):
        return GGUFValueType.STRING
    if isinstance(v, (list, tuple)):
        return GGUFValueType.ARRAY
    raise TypeError("cannot infer GGUF type of %r" % (type(v),))


def _pack_value(vtype, v, elem_type=None):
    if vtype == GGUFValueType.STRING:
        return _pack_string(v)
    if vtype == GGUFValueType.ARRAY:
        v = list(v)
        if elem_type is None:
            if not v:
                elem_type = GGUFValueType.INT32
            else:
                elem_type = _infer_type(v[0])
                if elem_type == GGUFValueType.INT32 and any(
                        not (-2**31 <= x < 2**31) for x in v):
                    elem_type = GGUFValueType.INT64
        if elem_type == GGUFValueType.ARRAY:
            raise ValueError("nested arrays are not supported by this writer")
        out = [struct.pack("<IQ", elem_type, len(v))]
        if elem_type == GGUFValueType.STRING:
            out.extend(_pack_string(x) for x in v)
        else:
            fmt = _SCALAR_FMT[elem_type]
            out.append(struct.pack("<%d%s" % (len(v), fmt[1]), *v) if v else b"")
        return b"".join(out)
    return struct.pack(_SCALAR_FMT[vtype], v)


# ---------------------------------------------------------------- quantizers

def f32_to_bf16_bits(x):
    """Round-to-nearest-even float32 -> bfloat16, NaN kept quiet. Returns uint16."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    nan = np.isnan(x)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def quantize_q8_0(x):
    """x: float array whose last dim is a multiple of 32. Returns raw bytes.

    Per block of 32: d = max|x| / 127 (stored as f16), q = round(x / d) as int8
    (round half away from zero; 1/d taken from the f32 d, as ggml does).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape[-1] % 32:
        raise ValueError("Q8_0 needs the row length to be a multiple of 32")
    blocks = x.reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1.0) / d, np.float32(0.0)).astype(np.float32)
    v = blocks * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int8)
    out = np.empty(blocks.shape[0], dtype=[("d", "<f2"), ("qs", "i1", (32,))])
    out["d"] = d.astype(np.float16)
    out["qs"] = q
    return out.tobytes()


def dequantize_q8_0(raw, shape):
    arr = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "i1", (32,))])
    return (arr["qs"].astype(np.float32) * arr["d"].astype(np.float32)[:, None]).reshape(shape)


def tensor_bytes(arr, ggml_type):
    if ggml_type == GGMLType.F32:
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if ggml_type == GGMLType.F16:
        return np.ascontiguousarray(arr, dtype="<f2").tobytes()
    if ggml_type == GGMLType.BF16:
        return f32_to_bf16_bits(arr).astype("<u2").tobytes()
    if ggml_type == GGMLType.Q8_0:
        return quantize_q8_0(arr)
    raise ValueError("unsupported ggml type %r" % (ggml_type,))


# ---------------------------------------------------------------- writer

class GGUFWriter:
    def __init__(self, path, alignment=None):
        self.path = path
        self.kv = []          # list of (key, bytes of type+value)
        self.keys = set()
        self.tensors = []     # list of (name, ne list, type, raw bytes)
        self.alignment = GGUF_DEFAULT_ALIGNMENT
        if alignment is not None:
            self.add_uint32("general.alignment", alignment)

    # -- metadata
    def add_kv(self, key, value, vtype=None, elem_type=None):
        if key in self.keys:
            raise KeyError("duplicate key " + key)
        if vtype is None:
            vtype = _infer_type(value)
        if key == "general.alignment":
            if vtype != GGUFValueType.UINT32 or value <= 0 or value % 8:
                raise ValueError("general.alignment must be a uint32 multiple of 8")
            self.alignment = int(value)
        payload = struct.pack("<I", vtype) + _pack_value(vtype, value, elem_type)
        self.kv.append((key, payload))
        self.keys.add(key)

    def add_uint8(self, k, v): self.add_kv(k, int(v), GGUFValueType.UINT8)
    def add_int8(self, k, v): self.add_kv(k, int(v), GGUFValueType.INT8)
    def add_uint16(self, k, v): self.add_kv(k, int(v), GGUFValueType.UINT16)
    def add_int16(self, k, v): self.add_kv(k, int(v), GGUFValueType.INT16)
    def add_uint32(self, k, v): self.add_kv(k, int(v), GGUFValueType.UINT32)
    def add_int32(self, k, v): self.add_kv(k, int(v), GGUFValueType.INT32)
    def add_uint64(self, k, v): self.add_kv(k, int(v), GGUFValueType.UINT64)
    def add_int64(self, k, v): self.add_kv(k, int(v), GGUFValueType.INT64)
    def add_float32(self, k, v): self.add_kv(k, float(v), GGUFValueType.FLOAT32)
    def add_float64(self, k, v): self.add_kv(k, float(v), GGUFValueType.FLOAT64)
    def add_bool(self, k, v): self.add_kv(k, bool(v), GGUFValueType.BOOL)
    def add_string(self, k, v): self.add_kv(k, v, GGUFValueType.STRING)

    def add_array(self, k, values, elem_type=None):
        self.add_kv(k, list(values), GGUFValueType.ARRAY, elem_type)

    # -- tensors
    def add_tensor(self, name, arr, ggml_type=GGMLType.F32):
        arr = np.asarray(arr)
        if any(t[0] == name for t in self.tensors):
            raise KeyError("duplicate tensor " + name)
        if arr.ndim < 1 or arr.ndim > 4:
            raise ValueError("tensor must have 1..4 dims")
        raw = tensor_bytes(arr, ggml_type)
        blk, bsz = GGML_TYPE_SIZE[ggml_type]
        assert len(raw) == arr.size // blk * bsz
        ne = list(reversed(arr.shape))
        self.tensors.append((name, ne, ggml_type, raw))

    # -- output
    def _pad(self, n):
        return (-n) % self.alignment

    def write(self):
        head = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))]
        for key, payload in self.kv:
            head.append(_pack_string(key))
            head.append(payload)
        offset = 0
        for name, ne, gtype, raw in self.tensors:
            head.append(_pack_string(name))
            head.append(struct.pack("<I", len(ne)))
            head.append(struct.pack("<%dQ" % len(ne), *ne))
            head.append(struct.pack("<IQ", gtype, offset))
            offset += len(raw) + self._pad(len(raw))
        header = b"".join(head)
        with open(self.path, "wb") as f:
            f.write(header)
            f.write(b"\0" * self._pad(len(header)))
            for name, ne, gtype, raw in self.tensors:
                f.write(raw)
                f.write(b"\0" * self._pad(len(raw)))
        return self.path


# ---------------------------------------------------------------- reader (for checks)

def read_gguf(path):
    """Minimal reader used for self-tests: returns (kv dict, {name: (ne, type, bytes)})."""
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals

    def rstr():
        nonlocal pos
        (n,) = take("<Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def rval(t):
        if t == GGUFValueType.STRING:
            return rstr()
        if t == GGUFValueType.ARRAY:
            et, n = take("<IQ")
            return [rval(et) for _ in range(n)]
        return take(_SCALAR_FMT[t])[0]

    assert data[:4] == GGUF_MAGIC, "bad magic"
    pos = 4
    version, nt, nkv = take("<IQQ")
    assert version == 3
    kv = {}
    for _ in range(nkv):
        k = rstr()
        (t,) = take("<I")
        kv[k] = rval(t)
    align = kv.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    infos = []
    for _ in range(nt):
        name = rstr()
        (nd,) = take("<I")
        ne = list(take("<%dQ" % nd))
        t, off = take("<IQ")
        infos.append((name, ne, t, off))
    base = pos + ((-pos) % align)
    tensors = {}
    for name, ne, t, off in infos:
        assert off % align == 0
        n = int(np.prod(ne))
        blk, bsz = GGML_TYPE_SIZE[t]
        tensors[name] = (ne, t, data[base + off: base + off + n // blk * bsz])
    return kv, tensors


if __name__ == "__main__":  # self-test
    import os
    import tempfile
    p = os.path.join(tempfile.mkdtemp(), "t.gguf")
    w = GGUFWriter(p)
    w.add_string("general.architecture", "test")
    for name, fn, v in [("u8", w.add_uint8, 200), ("i8", w.add_int8, -5), ("u16", w.add_uint16, 60000),
                        ("i16", w.add_int16, -3), ("u32", w.add_uint32, 4000000000), ("i32", w.add_int32, -7),
                        ("u64", w.add_uint64, 2**40), ("i64", w.add_int64, -2**40),
                        ("f64", w.add_float64, 0.1), ("b", w.add_bool, True)]:
        fn("k." + name, v)
    w.add_float32("k.f32", 1.5)
    w.add_array("k.strs", ["a b", "\u0120the", ""])
    w.add_array("k.i32s", [1, 3, 3], GGUFValueType.INT32)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 64)).astype(np.float32)
    w.add_tensor("a.f32", a, GGMLType.F32)
    w.add_tensor("a.f16", a, GGMLType.F16)
    w.add_tensor("a.bf16", a, GGMLType.BF16)
    w.add_tensor("a.q8", a, GGMLType.Q8_0)
    w.add_tensor("v", np.arange(5, dtype=np.float32))
    w.write()
    kv, t = read_gguf(p)
    assert kv["k.u32"] == 4000000000 and kv["k.i64"] == -2**40 and kv["k.b"] is True
    assert kv["k.strs"] == ["a b", "\u0120the", ""] and kv["k.f32"] == 1.5
    assert t["a.f32"][0] == [64, 3]
    assert np.array_equal(np.frombuffer(t["a.f32"][2], "<f4").reshape(3, 64), a)
    assert np.allclose(np.frombuffer(t["a.f16"][2], "<f2").reshape(3, 64), a, atol=2e-3)
    bf = (np.frombuffer(t["a.bf16"][2], "<u2").astype(np.uint32) << 16).view(np.float32).reshape(3, 64)
    assert np.allclose(bf, a, rtol=1e-2, atol=1e-2)
    assert np.allclose(dequantize_q8_0(t["a.q8"][2], (3, 64)), a, atol=np.abs(a).max() / 100)
    assert len(t["a.q8"][2]) == 6 * 34
    print("gguf_write self-test ok:", os.path.getsize(p), "bytes")
