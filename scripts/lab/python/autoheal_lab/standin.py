"""The part of Glance and Neutron a lab server needs, and nothing more.

Neither is packaged for this use. Serves one raw image (GET /v2/images/ID, its schema, the
image list) and empty networks, ports, subnets, security groups and extensions, so that
`server create --nic none` boots and `evacuate` rebuilds. Every request is logged.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMAGE_ID = "5a2c6f4e-1b3d-4e8f-9a0b-7c6d5e4f3a2b"
IMAGE = {
    "id": IMAGE_ID, "name": "lab-image", "status": "active", "visibility": "public", "disk_format": "raw",
    "container_format": "bare", "size": 1048576, "virtual_size": 1048576, "min_disk": 0, "min_ram": 0,
    "protected": False, "checksum": "0" * 32, "os_hash_algo": "sha512", "os_hash_value": "0" * 128,
    "owner": "admin", "tags": [], "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    "self": f"/v2/images/{IMAGE_ID}", "file": f"/v2/images/{IMAGE_ID}/file", "schema": "/v2/schemas/image",
}
# The properties of Glance's own image schema that glanceclient and Nova read.
SCHEMA = {
    "name": "image",
    "properties": {
        "id": {"type": "string"}, "name": {"type": ["null", "string"]}, "status": {"type": "string"},
        "visibility": {"type": "string"}, "protected": {"type": "boolean"}, "os_hidden": {"type": "boolean"},
        "checksum": {"type": ["null", "string"]}, "owner": {"type": ["null", "string"]},
        "size": {"type": ["null", "integer"]}, "virtual_size": {"type": ["null", "integer"]},
        "container_format": {"type": ["null", "string"]}, "disk_format": {"type": ["null", "string"]},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
        "min_ram": {"type": "integer"}, "min_disk": {"type": "integer"}, "self": {"type": "string"}, "file": {"type": "string"},
        "schema": {"type": "string"}, "os_hash_algo": {"type": ["null", "string"]}, "os_hash_value": {"type": ["null", "string"]},
        "locations": {"type": "array"}, "direct_url": {"type": "string"},
    },
    "additionalProperties": {"type": "string"},
}
EMPTY = {
    "/v2.0/networks": "networks", "/v2.0/ports": "ports", "/v2.0/subnets": "subnets",
    "/v2.0/security-groups": "security_groups", "/v2.0/floatingips": "floatingips",
    "/v2.0/extensions": "extensions", "/v2.0/qos/policies": "policies",
}


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == f"/v2/images/{IMAGE_ID}":
            return self.answer(200, IMAGE)
        if path == "/v2/images":
            return self.answer(200, {"images": [IMAGE], "schema": "/v2/schemas/images", "first": "/v2/images"})
        if path == "/v2/schemas/image":
            return self.answer(200, SCHEMA)
        if path == "/v2/schemas/images":
            return self.answer(200, {"name": "images", "properties": {"images": {"type": "array", "items": SCHEMA}}})
        if path in EMPTY:
            return self.answer(200, {EMPTY[path]: []})
        if path in ("", "/", "/v2.0"):
            return self.answer(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": []}]})
        self.answer(404, {"error": f"not in the lab stand-in: {path}"})

    def do_PUT(self):
        self.answer(200, {})

    def do_POST(self):
        self.answer(201, {})

    def do_DELETE(self):
        self.answer(204, {})

    def log_message(self, fmt, *args):
        sys.stderr.write("standin: " + (fmt % args) + "\n")


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
