"""Open Inference Protocol (KServe V2) tensors: JSON and the binary tensor extension.

Requests carry a JSON header, optionally followed by raw tensor bytes whose sizes the header
gives (``parameters.binary_data_size``); the header's length is in the
``Inference-Header-Content-Length`` HTTP header. Responses use the same framing for outputs
the client asked to receive as binary.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.errors import Problem
from conveyor.serving.inputs import ROWS_SETTING, Problems, RequestError, bad_request, check_rows

if TYPE_CHECKING:
    import numpy as np

HEADER_LENGTH = "inference-header-content-length"

_NUMPY = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
_FLOATS = frozenset({"FP16", "FP32", "FP64"})


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray


def v2_datatype(array: np.ndarray) -> str:
    kind = array.dtype
    for name, np_name in _NUMPY.items():
        if kind == np_name:
            return name
    return "BYTES"


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise bad_request("Inference-Header-Content-Length", "must be an integer ≤ the body size")
    n = int(header_length)
    return body[:n], body[n:]


def decode_inputs(
    header: dict[str, Any], binary: bytes, max_rows: int | None = None, width: int = 1
) -> list[Tensor]:
    """Every input tensor of a request, as numpy arrays of the declared shape.

    A tensor's first dimension is its rows: more than ``max_rows`` is refused (413) before
    its data is read, as is a tensor holding more values than ``max_rows`` × ``width`` (the
    model's feature count) could need."""
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad_request("inputs", "must be a non-empty list of tensors")
    tensors: list[Tensor] = []
    offset = 0
    problems = Problems(status=400)
    for i, spec in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(spec, dict):
            problems.add(where, "must be an object")
            continue
        name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
        if not isinstance(name, str) or not name:
            problems.add(f"{where}.name", "must be a non-empty string")
            continue
        where = f"inputs[{name}]"
        if datatype not in _NUMPY and datatype != "BYTES":
            problems.add(f"{where}.datatype", f"unknown datatype {datatype!r}")
            continue
        if (
            not isinstance(shape, list)
            or not shape
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            problems.add(f"{where}.shape", "must be a list of non-negative integers")
            continue
        count = math.prod(shape)  # Python integers: a hostile shape cannot overflow
        if max_rows is not None:
            check_rows(f"{where}.shape", shape[0], max_rows)
            if count > max_rows * width:
                raise RequestError(
                    [
                        Problem(
                            f"{where}.shape",
                            f"{shape} holds {count} values; at most {max_rows} rows of "
                            f"{width} features per request ({ROWS_SETTING})",
                        )
                    ],
                    status=413,
                )
        params = spec.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        try:
            if size is not None:
                if type(size) is not int or size < 0 or offset + size > len(binary):
                    raise ValueError("binary_data_size does not match the binary body")
                raw = binary[offset : offset + size]
                offset += size
                array = _from_binary(raw, datatype, count)
            else:
                if "data" not in spec:
                    raise ValueError("has neither 'data' nor parameters.binary_data_size")
                array = _from_json(spec["data"], datatype, count)
            if array.size != count:
                raise ValueError(f"holds {array.size} values but shape {shape} needs {count}")
        except (ValueError, TypeError, OverflowError, struct.error) as exc:
            problems.add(where, str(exc))
            continue
        tensors.append(Tensor(name, datatype, shape, array.reshape(shape)))
    problems.check()
    return tensors


def _from_json(data: Any, datatype: str, count: int) -> np.ndarray:
    """``data`` (flat or nested as the shape) as an array. ``null`` is a missing value: NaN in
    a floating-point tensor, ``None`` in a BYTES one; other tensors cannot carry it."""
    import numpy as np

    flat = _flatten(data, count)
    if len(flat) != count:  # before looking at any value: a short shape over long data is cheap
        raise ValueError(f"holds {len(flat)} values but its shape needs {count}")
    if datatype == "BYTES":
        if not all(v is None or type(v) is str for v in flat):
            raise ValueError('BYTES data must be strings (null or "" for a missing value)')
        return np.asarray(flat, dtype=object)
    if datatype == "BOOL":
        if not all(type(v) is bool for v in flat):
            raise ValueError("BOOL data must be true/false")
    elif datatype in _FLOATS:
        if not all(v is None or type(v) in (int, float) for v in flat):
            raise ValueError(f"{datatype} data must be numbers (null for a missing value)")
    elif not all(type(v) in (int, float) for v in flat):
        nulls = any(v is None for v in flat)
        hint = "; a missing value (null) needs an FP16/FP32/FP64 tensor" if nulls else ""
        raise ValueError(f"{datatype} data must be numbers{hint}")
    return np.asarray(flat, dtype=_NUMPY[datatype])


def _flatten(data: Any, count: int) -> list[Any]:
    """The values of nested lists in order; refuses more than ``count`` of them as it goes."""
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        return data
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
            if len(out) > count:
                raise ValueError(f"holds more values than the {count} its shape needs")
        else:
            stack.pop()
    return out


def _from_binary(raw: bytes, datatype: str, count: int) -> np.ndarray:
    import numpy as np

    if datatype != "BYTES":
        dtype = np.dtype(_NUMPY[datatype]).newbyteorder("<")
        if len(raw) != count * dtype.itemsize:
            raise ValueError(f"binary size {len(raw)} does not fit {count} {datatype} values")
        return np.frombuffer(raw, dtype=dtype)
    values: list[str] = []
    pos = 0
    while pos < len(raw):
        if len(values) == count:
            raise ValueError(f"holds more BYTES values than the {count} its shape needs")
        (length,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + length > len(raw):
            raise ValueError("BYTES element runs past the end of its binary data")
        try:
            values.append(raw[pos : pos + length].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"BYTES element {len(values)} is not UTF-8: {exc.reason}") from None
        pos += length
    return np.asarray(values, dtype=object)


def encode_output(name: str, array: np.ndarray, binary: bool) -> tuple[dict[str, Any], bytes]:
    """One output tensor: its JSON description and (when binary) its raw bytes."""
    import numpy as np

    datatype = v2_datatype(array)
    entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if not binary:
        flat = array.reshape(-1)
        entry["data"] = [str(v) for v in flat] if datatype == "BYTES" else flat
        return entry, b""
    if datatype == "BYTES":
        parts = []
        for v in array.reshape(-1):
            encoded = str(v).encode("utf-8")
            parts.append(struct.pack("<I", len(encoded)) + encoded)
        raw = b"".join(parts)
    else:
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    entry["parameters"] = {"binary_data_size": len(raw)}
    return entry, raw


def as_datatype(array: np.ndarray, datatype: str) -> np.ndarray:
    """``array`` in the V2 ``datatype`` a model's metadata announces (BYTES stays as it is), so
    what clients read matches what they were told (tritonclient decodes by the type)."""
    if datatype == "BYTES":
        return array
    return array.astype(_NUMPY[datatype], copy=False)
