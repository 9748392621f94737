"""Run inside .venv-peers: KServe's InferenceRESTClient against a V2 server; prints outputs as JSON.

usage: python kserve_client.py BASE_URL MODEL MATRIX_JSON [--binary]
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


async def main() -> None:
    base_url, model, matrix_json = sys.argv[1:4]
    binary = "--binary" in sys.argv
    matrix = np.asarray(json.loads(matrix_json), dtype=np.float32)
    tensor = InferInput(name="input-0", shape=list(matrix.shape), datatype="FP32")
    tensor.set_data_from_numpy(matrix, binary_data=binary)
    request = InferRequest(model_name=model, infer_inputs=[tensor], request_id="kserve-1")
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=30))
    try:
        ready = await client.is_model_ready(base_url, model)
        response = await client.infer(base_url, request, model_name=model)
    finally:
        await client.close()
    outputs = {o.name: o.as_numpy().tolist() for o in response.outputs}
    print(
        json.dumps(
            {"ready": ready, "id": response.id, "model": response.model_name, "outputs": outputs}
        )
    )


asyncio.run(main())
