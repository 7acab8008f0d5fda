"""The wire protocol of exec, attach and portforward over WebSockets (wsstream, remotecommand).

Every WebSocket message carries one channel's data behind a channel number: a byte in the binary
subprotocols, an ASCII digit before base64 text in the base64 ones. For exec and attach the
channels are 0 stdin, 1 stdout, 2 stderr, 3 error (the final status), 4 resize (JSON terminal
sizes); v5 adds 255, a client's "close channel N" signal. For portforward each requested port
gets a data channel (2i) and an error channel (2i + 1), each opened by a frame holding the port
as two little-endian bytes.

Who answers which subprotocol follows kube-apiserver 1.32: a request offering
`v5.channel.k8s.io` is served by the API server's own stream translator (it speaks only v5);
any other goes through to the kubelet's streaming server (the container runtime's), which speaks
`channel.k8s.io`, `base64.channel.k8s.io`, their `v4.` versions and no subprotocol at all. The
final status differs accordingly (`status_frame`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5: the client closes one of its channels (stdin)

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
PORT_FORWARD_TUNNEL = "SPDY/3.1+portforward.k8s.io"  # kubectl port-forward: SPDY in a WebSocket

# What each side accepts ("": a client that names no subprotocol gets the unversioned binary one).
TRANSLATOR_PROTOCOLS = (V5,)
KUBELET_EXEC_PROTOCOLS = ("", V1, V1_BASE64, V4, V4_BASE64)
KUBELET_PORT_FORWARD_PROTOCOLS = ("", V4, V4_BASE64)


def client_protocols(header: str | None) -> list[str]:
    """The subprotocols a Sec-WebSocket-Protocol header offers, in the client's order."""
    return [p.strip() for p in (header or "").split(",") if p.strip()]


def negotiate(offered: list[str], accepted: tuple[str, ...]) -> str | None:
    """The first offered subprotocol the server accepts (golang.org/x/net/websocket's order);
    a client offering none gets "" if that is accepted; None when nothing matches."""
    for protocol in offered or [""]:
        if protocol in accepted:
            return protocol
    return None


@dataclass(frozen=True)
class Codec:
    """How one negotiated subprotocol frames channel data."""

    protocol: str

    @property
    def base64(self) -> bool:
        return "base64" in self.protocol

    @property
    def v4_status(self) -> bool:
        """Whether the error channel carries a metav1.Status (v4 and later) or plain text."""
        return self.protocol in (V4, V4_BASE64, V5)

    @property
    def close_signals(self) -> bool:
        return self.protocol == V5

    def encode(self, channel: int, data: bytes) -> bytes | str:
        """One message: binary for the binary protocols, text for the base64 ones."""
        if self.base64:
            return chr(ord("0") + channel) + base64.b64encode(data).decode()
        return bytes([channel]) + data

    def decode(self, message: bytes | str) -> tuple[int, bytes] | None:
        """(channel, data) of a client's message; None for an empty or undecodable one."""
        raw = message.encode() if isinstance(message, str) else message
        if not raw:
            return None
        if not self.base64:
            return raw[0], raw[1:]
        channel = (raw[0] - ord("0")) & 0xFF  # as Go's byte arithmetic wraps
        try:
            return channel, base64.b64decode(raw[1:], validate=True)
        except ValueError:
            return None


def go_json(obj: Any) -> str:
    """JSON as Go's encoding/json writes it: compact, UTF-8, with <, > and & escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def success_status() -> dict[str, Any]:
    """metav1.Status{Status: Success}, as the error channel carries it (no kind, no code)."""
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, message: str) -> dict[str, Any]:
    """The status of a command that exited non-zero: reason NonZeroExitCode, the code as the
    ExitCode cause (remotecommand's exit-code protocol, which clients parse)."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error_status(error: str) -> dict[str, Any]:
    """apierrors.NewInternalError(err) as a status: code 500, the error as its one cause."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {error}",
        "reason": "InternalError",
        "details": {"causes": [{"message": error}]},
        "code": 500,
    }


def status_frame(codec: Codec, status: dict[str, Any]) -> bytes | None:
    """What the error channel carries for a final status: the JSON Status from v4 on; before
    v4 only a failure's message, and nothing for success."""
    if codec.v4_status:
        return go_json(status).encode()
    if status.get("status") == "Success":
        return None
    return str(status.get("message", "")).encode()


def port_header(port: int) -> bytes:
    """The first frame of a port's data and error channels: the port, little-endian."""
    return port.to_bytes(2, "little")


class ResizeDecoder:
    """Terminal sizes from the resize channel: a stream of JSON objects {"Width": w, "Height": h}
    that may be split across messages or share one (Go's json.Decoder over the stream). As on
    the real server, the first malformed object ends resizing for the session."""

    MAX_PENDING = 64 * 1024

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()
        self.broken = False

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        sizes: list[tuple[int, int]] = []
        if self.broken:
            return sizes
        self._buffer += data.decode(errors="replace")
        while True:
            text = self._buffer.lstrip()
            self._buffer = text
            if not text:
                return sizes
            try:
                value, end = self._decoder.raw_decode(text)
            except json.JSONDecodeError as e:
                # Cut short (the error is at the end) waits for more; anything else is broken.
                self.broken = e.pos < len(text) or len(text) > self.MAX_PENDING
                return sizes
            self._buffer = text[end:]
            size = _terminal_size(value)
            if size is None:
                self.broken = True
                return sizes
            sizes.append(size)


def _terminal_size(value: Any) -> tuple[int, int] | None:
    """remotecommand.TerminalSize{Width, Height uint16} from a decoded object (keys match
    case-insensitively, as encoding/json matches field names)."""
    if not isinstance(value, dict):
        return None
    fields = {str(k).lower(): v for k, v in value.items()}
    size = []
    for key in ("width", "height"):
        v = fields.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535:
            return None
        size.append(v)
    return size[0], size[1]
