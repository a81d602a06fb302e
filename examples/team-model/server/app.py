"""A model server that honours the platform's contracts: it listens on PORT under BASE_PATH, answers
/healthz and /ready, and prints a capture record (docs/monitoring.md) for CAPTURE_SAMPLE_RATE of its
predictions, tagged with the request ID the gateway sends. Standard library only; replace predict()."""

import json
import os
import random
import sys
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE, RATE = os.environ.get("BASE_PATH", ""), float(os.environ.get("CAPTURE_SAMPLE_RATE", "0"))
SOURCE = "shadow" if os.environ.get("MODEL_TRAFFIC") == "shadow" else "online"


def predict(features: dict) -> tuple[str, float]:
    score = min(1.0, float(features.get("text_length", 0)) / 280)  # stands in for the model
    return ("positive" if score > 0.5 else "negative"), score


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path in ("/healthz", "/ready") else 404)
        self.end_headers()

    def do_POST(self):
        features = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        label, score = predict(features)
        request_id = self.headers.get(os.environ.get("REQUEST_ID_HEADER", "x-request-id")) or str(
            uuid.uuid4()
        )
        if random.random() < RATE:
            print(
                json.dumps(
                    {
                        "schema": "mlops-platform/capture/v1",
                        "request_id": request_id,
                        "model": os.environ["MODEL_NAME"],
                        "version": os.environ["MODEL_VERSION"],
                        "timestamp": datetime.now(UTC)
                        .isoformat(timespec="milliseconds")
                        .replace("+00:00", "Z"),
                        "source": SOURCE,
                        "features": features,
                        "prediction": label,
                        "score": score,
                    }
                ),
                flush=True,
            )
        body = json.dumps({"prediction": label, "score": score}).encode()
        self.send_response(200 if self.path == f"{BASE}/predict" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # stdout carries capture records only
        print(*args, file=sys.stderr)


ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
