"""Reading a safetensors file into float32 torch tensors with torch alone (the peers run where the safetensors
package is not installed)."""
import json, struct
import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        start, end = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[e["dtype"]]).reshape(e["shape"]).float()
    return out
