"""A stand-in for the `nginx` image's default process, for the process runtime.

Run as `python -I nginx_standin.py ADDRESS PORT` (by path, standard library only). nginx's
default configuration serves its welcome page at / on port 80 and answers 404 elsewhere, logging
each request in the combined format; this does the same, with the same status lines and Server
header, so a client of a pod running the image (port-forward, a Service) sees what it would see
there. It is no web server beyond that: no configuration is read.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "nginx/1.27.4"
WELCOME = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
NOT_FOUND = (
    b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>" + VERSION.encode() + b"</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class Handler(BaseHTTPRequestHandler):
    server_version = VERSION
    sys_version = ""

    def _answer(self, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        ok = path in ("/", "/index.html")
        page = WELCOME if ok else NOT_FOUND
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        if body:
            self.wfile.write(page)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        agent = self.headers.get("User-Agent", "-")
        print(f'{self.client_address[0]} - - [{when}] "{self.requestline}" {code} - "-" '
              f'"{agent}" "-"', flush=True)  # fmt: skip


def main(argv: list[str]) -> int:
    address, port = argv[1], int(argv[2])
    try:
        server = ThreadingHTTPServer((address, port), Handler)
    except OSError as e:
        print(f'nginx: [emerg] bind() to {address}:{port} failed ({e.errno}: {e.strerror})',
              file=sys.stderr, flush=True)  # fmt: skip
        return 1
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
