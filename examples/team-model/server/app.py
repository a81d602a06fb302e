"""A model server honouring the platform's contracts (standard library only; replace predict()): it
serves POST BASE_PATH/predict and the health probes on PORT, and prints a capture record
(docs/monitoring.md) for CAPTURE_SAMPLE_RATE of its predictions, keyed by the gateway's request ID."""

import json
import os
import random
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import uuid4

ENV = os.environ
META = {"schema": "mlops-platform/capture/v1", "model": ENV["MODEL_NAME"], "version": ENV["MODEL_VERSION"]}
META["source"] = "shadow" if ENV.get("MODEL_TRAFFIC") == "shadow" else "online"


def predict(features: dict) -> tuple[str, float]:
    score = min(1.0, float(features.get("text_length", 0)) / 280)  # stands in for the model
    return ("positive" if score > 0.5 else "negative"), score


class Handler(BaseHTTPRequestHandler):  # access logs go to stderr: stdout carries capture records only
    def do_GET(self):
        self.send_response(200 if self.path in ("/healthz", "/ready") else 404)
        self.end_headers()

    def do_POST(self):
        features = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        label, score = predict(features)
        if random.random() < float(ENV.get("CAPTURE_SAMPLE_RATE", "0")):
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            request_id = self.headers.get(ENV.get("REQUEST_ID_HEADER", "x-request-id")) or str(uuid4())
            record = {**META, "request_id": request_id, "timestamp": now, "features": features}
            print(json.dumps({**record, "prediction": label, "score": score}), flush=True)
        self.send_response(200 if self.path == f"{ENV.get('BASE_PATH', '')}/predict" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"prediction": label, "score": score}).encode())


ThreadingHTTPServer(("", int(ENV.get("PORT", "8080"))), Handler).serve_forever()
