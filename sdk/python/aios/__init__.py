"""aios - a stdlib-only Python client for the aiosd kernel.

    import aios
    with aios.Client() as k:                      # finds the socket like aiosd does
        print(k.call("sys.ping"))
        for chunk in k.stream("llm.chat", {"messages": [...]}):
            print(chunk["text"], end="")          # $/stream notifications
        call = k.call_async("proc.wait", {"id": 3})
        call.cancel()

One connection carries many calls at once: a reader thread matches replies
to calls by id, so calls may be made from several threads.  Errors come back
as AiosError with the JSON-RPC code, the symbolic name (ENOENT, ...), the
message and the offending field.
"""

import itertools
import json
import os
import queue
import socket
import threading

__all__ = ["Client", "Call", "AiosError", "default_socket", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1


def default_socket():
    """The socket path aiosd uses by default."""
    env = os.environ.get("AIOS_SOCKET")
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "aios", "aios.sock")
    if os.getuid() == 0:
        return "/run/aios/aios.sock"
    return "/tmp/aios-%d/aios.sock" % os.getuid()


class AiosError(Exception):
    """A JSON-RPC error from the kernel (or a closed connection)."""

    def __init__(self, code, message, data=None):
        super().__init__("%s (%s)" % (message, code))
        self.code = code
        self.message = message
        self.data = data or {}
        self.name = self.data.get("name")
        self.field = self.data.get("field")


_CLOSED = object()


class Call:
    """One call in flight: a future for its result and a queue of its stream."""

    def __init__(self, client, id_, method):
        self._client = client
        self.id = id_
        self.method = method
        self._done = threading.Event()
        self._result = None
        self._error = None
        self._stream = queue.Queue()
        self.on_stream = None

    def _deliver_stream(self, params):
        if self.on_stream:
            self.on_stream(params)
        else:
            self._stream.put(params)

    def _finish(self, result=None, error=None):
        self._result = result
        self._error = error
        self._done.set()
        self._stream.put(_CLOSED)

    def done(self):
        return self._done.is_set()

    def result(self, timeout=None):
        """Wait for the final reply; raise AiosError on an error reply."""
        if not self._done.wait(timeout):
            raise TimeoutError("no reply to %s within %ss" % (self.method, timeout))
        if self._error is not None:
            raise self._error
        return self._result

    def __iter__(self):
        """Stream notifications until the call ends (then .result() is ready)."""
        while True:
            item = self._stream.get()
            if item is _CLOSED:
                return
            yield item

    def cancel(self):
        """Ask the kernel to cancel this call ($/cancel)."""
        if not self.done():
            self._client.notify("$/cancel", {"id": self.id})


class Client:
    """A connection to aiosd."""

    def __init__(self, socket_path=None, client="aios-python", agent=None, token=None,
                 hello=True, connect_timeout=10.0):
        self.path = socket_path or default_socket()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(connect_timeout)
        try:
            self._sock.connect(self.path)
        except OSError as e:
            self._sock.close()
            raise ConnectionError("cannot reach aiosd at %s: %s (is it running?)" %
                                  (self.path, e.strerror or e)) from None
        self._sock.settimeout(None)
        self._wlock = threading.Lock()
        self._lock = threading.Lock()
        self._calls = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._unsolicited = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, name="aios-reader", daemon=True)
        self._reader.start()
        self.info = None
        if hello:
            if agent is None and os.environ.get("AIOS_AGENT_ID"):
                agent = os.environ["AIOS_AGENT_ID"]
                token = token or os.environ.get("AIOS_AGENT_TOKEN")
            params = {"client": client, "version": "0.1.0", "protocol": PROTOCOL_VERSION}
            if agent is not None:
                params["agent"] = agent
            if token:
                params["token"] = token
            self.info = self.call("sys.hello", params)

    # -- plumbing ---------------------------------------------------------

    def _send(self, obj):
        data = (json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self._wlock:
            if self._closed:
                raise AiosError(-32014, "connection closed")
            self._sock.sendall(data)

    def send_raw(self, data):
        """Send raw bytes (for tests of the framing)."""
        with self._wlock:
            self._sock.sendall(data)

    def _read_loop(self):
        buf = b""
        err = None
        try:
            while True:
                chunk = self._sock.recv(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    line, buf = buf[:nl], buf[nl + 1:]
                    if line.strip():
                        self._dispatch(json.loads(line))
        except OSError as e:
            err = e
        finally:
            self._closed = True
            with self._lock:
                calls, self._calls = self._calls, {}
            for c in calls.values():
                c._finish(error=AiosError(-32014, "connection closed%s" % (": %s" % err if err else "")))
            self._unsolicited.put(None)

    def _dispatch(self, msg):
        if msg.get("method") == "$/stream":
            params = msg.get("params", {})
            with self._lock:
                c = self._calls.get(params.get("id"))
            if c:
                c._deliver_stream(params)
            return
        if "id" in msg and ("result" in msg or "error" in msg):
            with self._lock:
                c = self._calls.pop(msg["id"], None)
            if c is None:
                self._unsolicited.put(msg)
                return
            if "error" in msg:
                e = msg["error"]
                c._finish(error=AiosError(e.get("code"), e.get("message"), e.get("data")))
            else:
                c._finish(result=msg.get("result"))
            return
        self._unsolicited.put(msg)

    def next_unsolicited(self, timeout=None):
        """A message that matched no call (e.g. an error with id null)."""
        return self._unsolicited.get(timeout=timeout)

    # -- calls ----------------------------------------------------------------

    def call_async(self, method, params=None, on_stream=None, id_=None):
        """Send a request; return its Call (a future with a stream)."""
        id_ = next(self._ids) if id_ is None else id_
        c = Call(self, id_, method)
        c.on_stream = on_stream
        with self._lock:
            if self._closed:
                raise AiosError(-32014, "connection closed")
            self._calls[id_] = c
        msg = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        try:
            self._send(msg)
        except OSError as e:
            with self._lock:
                self._calls.pop(id_, None)
            raise AiosError(-32014, "connection closed: %s" % e) from None
        return c

    def call(self, method, params=None, timeout=None):
        """Call and wait for the result."""
        return self.call_async(method, params).result(timeout)

    def stream(self, method, params=None):
        """Call a streaming method; iterate its notifications.  The final
        result is then available as .result() on the returned Call."""
        return self.call_async(method, params)

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self._send(msg)

    def close(self):
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
