"""A local stand-in for the Hugging Face Hub's HTTP API, for end-to-end publishing tests without network access.

It implements the subset of endpoints that ``huggingface_hub`` (2.x, with ``HF_HUB_DISABLE_XET=1``) calls for
``create_repo``, ``create_branch``, ``upload_folder``/``create_commit`` (pre-upload, git-LFS "basic" batch transfer,
README YAML validation, the ndjson commit) and ``hf_hub_download``/``snapshot_download``/``from_pretrained``
(``HEAD``/``GET`` on ``/{repo}/resolve/{revision}/{path}``, ``/api/models/{repo}[/revision/{rev}]``,
``/api/models/{repo}/tree/{rev}``), with the headers the client reads
(``X-Repo-Commit``, ``ETag``/``X-Linked-Etag``, ``X-Linked-Size``, ``X-Error-Code``).

Repositories live in memory: every commit is an immutable ``{path: file}`` snapshot, branches point at commits and
``resolve`` accepts a branch name or a commit sha. Private repositories answer only to a token the server was started
with. Point a client at it with ``HF_ENDPOINT=server.url``. Every request is recorded in ``server.requests`` so tests
can assert what went over the wire.

Run it on its own with ``python tests/local_hub_server.py --port 8765`` to try the publishing scripts by hand.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import yaml

# Files the real Hub stores in git-LFS through the default .gitattributes (plus anything over 10 MB).
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".npz", ".zip")
LFS_MIN_SIZE = 10 * 1024 * 1024
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob (what the Hub sends as ``ETag`` for a regular file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredFile:
    data: bytes
    lfs: bool

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.lfs else git_blob_sha1(self.data)


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, StoredFile]


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)


class LocalHub:
    """State shared by the request handlers: repositories, uploaded LFS objects and a request log."""

    def __init__(self, tokens: tuple[str, ...] = ()):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> content
        self.tokens = set(tokens)
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.lock = threading.Lock()

    def create_repo(self, repo_id: str, repo_type: str, private: bool) -> Repo:
        root = Commit(oid=hashlib.sha1(f"init {repo_id} {time.time_ns()}".encode()).hexdigest(), parent=None,
                      message="initial commit", files={".gitattributes": StoredFile(_GITATTRIBUTES, lfs=False)})
        repo = Repo(repo_id, repo_type, private, branches={"main": root.oid}, commits={root.oid: root})
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def commit(self, repo: Repo, branch: str, message: str, ops: list[dict]) -> Commit:
        parent = repo.commits[repo.branches[branch]]
        files = dict(parent.files)
        for op in ops:
            key, value = op["key"], op["value"]
            path = value["path"].lstrip("/") if "path" in value else None
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise ValueError(f"unsupported encoding {value.get('encoding')!r}")
                files[path] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                oid = value["oid"]
                if oid not in self.lfs_objects:
                    raise KeyError(f"LFS object {oid} for {path!r} was never uploaded")
                files[path] = StoredFile(self.lfs_objects[oid], lfs=True)
            elif key == "deletedFile":
                files.pop(path, None)
            elif key == "deletedFolder":
                prefix = path.rstrip("/") + "/"
                files = {p: f for p, f in files.items() if not p.startswith(prefix)}
            else:
                raise ValueError(f"unsupported commit operation {key!r}")
        digest = hashlib.sha1(parent.oid.encode() + message.encode())
        for p in sorted(files):
            digest.update(p.encode() + b"\0" + files[p].etag.encode())
        commit = Commit(oid=digest.hexdigest(), parent=parent.oid, message=message, files=files)
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit

    @staticmethod
    def resolve(repo: Repo, revision: str) -> Commit | None:
        revision = unquote(revision)
        if revision in repo.branches:
            return repo.commits[repo.branches[revision]]
        return repo.commits.get(revision)


_GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()


class HubError(Exception):
    def __init__(self, status: int, message: str, error_code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.error_code = status, message, error_code


class _Handler(BaseHTTPRequestHandler):
    server_version = "LocalHub/1.0"
    protocol_version = "HTTP/1.1"
    hub: LocalHub  # set on the subclass built by LocalHubServer

    def log_message(self, format, *args):  # noqa: A002 - quiet: the request log is kept in hub.requests
        pass

    # --- plumbing -----------------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.hub.requests.append((self.command, self.path, status))

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode())

    def _base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[len("Bearer "):] in self.hub.tokens

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self._authorized()):
            # like the Hub: a private repo looks absent to anyone without access
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        try:
            with self.hub.lock:
                for method, pattern, handler in _ROUTES:
                    if method == self.command or (method == "GET" and self.command == "HEAD"):
                        m = re.fullmatch(pattern, path)
                        if m:
                            return handler(self, **m.groupdict())
            raise HubError(404, f"no route for {self.command} {path}")
        except HubError as exc:
            headers = {"X-Error-Code": exc.error_code, "X-Error-Message": exc.message} if exc.error_code else {}
            self._send(exc.status, json.dumps({"error": exc.message}).encode(), headers)
        except Exception as exc:  # noqa: BLE001 - report server bugs to the client instead of hanging it
            self._send(500, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # --- repository management ------------------------------------------------------------------------------------
    def create_repo(self):
        payload = json.loads(self._body() or b"{}")
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")
        name, org = payload["name"], payload.get("organization")
        repo_id = f"{org}/{name}" if org else name
        repo_type = payload.get("type") or "model"
        if (repo_type, repo_id) in self.hub.repos:
            return self._json(409, {"error": "You already created this model repo", "url": f"{self._base_url()}/{repo_id}"})
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        self.hub.create_repo(repo_id, repo_type, private)
        self._json(200, {"url": f"{self._base_url()}/{repo_id}", "name": repo_id, "id": repo_id})

    def create_branch(self, kind, repo_id, branch):
        repo = self._repo(REPO_TYPES[kind], repo_id)
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")
        branch = unquote(branch)
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        payload = json.loads(self._body() or b"{}")
        start = self.hub.resolve(repo, payload.get("startingPoint") or "main")
        repo.branches[branch] = start.oid
        self._json(200, {})

    def repo_info(self, kind, repo_id, revision="main"):
        repo = self._repo(REPO_TYPES[kind], repo_id)
        commit = self.hub.resolve(repo, revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        siblings = [{"rfilename": p, "size": len(f.data)} for p, f in sorted(commit.files.items())]
        self._json(200, {"id": repo_id, "modelId": repo_id, "sha": commit.oid, "private": repo.private,
                         "siblings": siblings, "tags": [], "downloads": 0, "likes": 0})

    def list_tree(self, kind, repo_id, revision, path=""):
        repo = self._repo(REPO_TYPES[kind], repo_id)
        commit = self.hub.resolve(repo, revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {unquote(revision)}", "RevisionNotFound")
        prefix = unquote(path or "").strip("/")
        prefix = prefix + "/" if prefix else ""
        recursive = "recursive=true" in urlsplit(self.path).query.lower() or "recursive=1" in urlsplit(self.path).query
        entries, folders = [], set()
        for name, stored in sorted(commit.files.items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    entries.append({"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()})
            if len(parts) > 1 and not recursive:
                continue
            entry = {"type": "file", "path": name, "size": len(stored.data), "oid": git_blob_sha1(stored.data)}
            if stored.lfs:
                entry["lfs"] = {"oid": stored.etag, "size": len(stored.data), "pointerSize": 134}
            entries.append(entry)
        self._json(200, entries)

    # --- upload -----------------------------------------------------------------------------------------------------
    def validate_yaml(self):
        payload = json.loads(self._body() or b"{}")
        content = payload.get("content", "")
        m = re.match(r"^---\s*\n(.*?)\n---\s*\n", content, flags=re.S)
        if not m:
            return self._json(200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata"}]})
        try:
            meta = yaml.safe_load(m.group(1))
        except yaml.YAMLError as exc:
            return self._json(400, {"error": f"Invalid YAML in README.md: {exc}"})
        if not isinstance(meta, dict):
            return self._json(400, {"error": "README.md metadata must be a YAML mapping"})
        self._json(200, {"errors": [], "warnings": []})

    def preupload(self, kind, repo_id, revision):
        repo = self._repo(REPO_TYPES[kind], repo_id)
        if self.hub.resolve(repo, revision) is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        payload = json.loads(self._body())
        files = []
        for f in payload["files"]:
            lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] >= LFS_MIN_SIZE
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False})
        self._json(200, {"files": files})

    def lfs_batch(self, repo_id, kind=None):
        repo = self._repo(REPO_TYPES[kind or "models"], repo_id)
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")
        payload = json.loads(self._body())
        if payload.get("operation") != "upload":
            raise HubError(400, f"unsupported LFS operation {payload.get('operation')!r}")
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.hub.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self._base_url()}/lfs-upload/{obj['oid']}/{obj['size']}"}}
            objects.append(entry)
        del repo
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def lfs_upload(self, oid, size):
        data = self._body()
        if len(data) != int(size) or hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"LFS object {oid}: content does not match its declared sha256/size")
        self.hub.lfs_objects[oid] = data
        self._send(200)

    def commit(self, kind, repo_id, revision):
        repo = self._repo(REPO_TYPES[kind], repo_id)
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")
        revision = unquote(revision)
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        lines = [json.loads(line) for line in self._body().decode().splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        parent = header.get("parentCommit")
        if parent is not None and parent != repo.branches[revision]:
            raise HubError(412, f"parent commit {parent} is not the head of {revision}")
        commit = self.hub.commit(repo, revision, header["summary"], [line for line in lines if line["key"] != "header"])
        self._json(200, {"commitUrl": f"{self._base_url()}/{repo_id}/commit/{commit.oid}", "commitOid": commit.oid,
                         "pullRequestUrl": None, "success": True})

    # --- download ---------------------------------------------------------------------------------------------------
    def resolve_file(self, repo_id, revision, filename, kind=None):
        repo = self._repo(REPO_TYPES[kind or "models"], repo_id)
        commit = self.hub.resolve(repo, revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {unquote(revision)}", "RevisionNotFound")
        stored = commit.files.get(unquote(filename))
        if stored is None:
            raise HubError(404, f"Entry not found: {unquote(filename)}", "EntryNotFound")
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{stored.etag}"', "Content-Length": len(stored.data),
                   "Accept-Ranges": "bytes"}
        if stored.lfs:
            headers.update({"X-Linked-Etag": f'"{stored.etag}"', "X-Linked-Size": len(stored.data)})
        data = stored.data
        rng = self.headers.get("Range")
        if rng and self.command == "GET":
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else len(data) - 1
                data = data[start:end + 1]
                headers["Content-Length"] = len(data)
                headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{len(stored.data)}"
                return self._send(206, data, headers, "application/octet-stream")
        self._send(200, data, headers, "application/octet-stream")


_REPO = r"(?P<repo_id>[\w.-]+/[\w.-]+)"
_ROUTES = [
    ("POST", r"/api/repos/create", _Handler.create_repo),
    ("POST", r"/api/validate-yaml", _Handler.validate_yaml),
    ("POST", rf"/api/(?P<kind>models|datasets|spaces)/{_REPO}/branch/(?P<branch>.+)", _Handler.create_branch),
    ("POST", rf"/api/(?P<kind>models|datasets|spaces)/{_REPO}/preupload/(?P<revision>[^/]+)", _Handler.preupload),
    ("POST", rf"/api/(?P<kind>models|datasets|spaces)/{_REPO}/commit/(?P<revision>[^/]+)", _Handler.commit),
    ("GET", rf"/api/(?P<kind>models|datasets|spaces)/{_REPO}/revision/(?P<revision>[^/]+)", _Handler.repo_info),
    ("GET", rf"/api/(?P<kind>models|datasets|spaces)/{_REPO}/tree/(?P<revision>[^/]+)(?:/(?P<path>.+))?",
     _Handler.list_tree),
    ("GET", rf"/api/(?P<kind>models|datasets|spaces)/{_REPO}", _Handler.repo_info),
    ("POST", rf"/(?:(?P<kind>datasets|spaces)/)?{_REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
    ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})/(?P<size>\d+)", _Handler.lfs_upload),
    ("GET", rf"/(?:(?P<kind>datasets|spaces)/)?{_REPO}/resolve/(?P<revision>[^/]+)/(?P<filename>.+)",
     _Handler.resolve_file),
]


class LocalHubServer:
    """Serve a :class:`LocalHub` on ``127.0.0.1`` from a daemon thread; usable as a context manager."""

    def __init__(self, tokens: tuple[str, ...] = ("hf_local_test_token",), port: int = 0):
        self.hub = LocalHub(tokens)
        handler = type("BoundHandler", (_Handler,), {"hub": self.hub})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="local-hub", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        return self.hub.requests

    def start(self) -> "LocalHubServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "LocalHubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - manual use
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="hf_local_test_token")
    args = parser.parse_args()
    server = LocalHubServer(tokens=(args.token,), port=args.port)
    print(f"local Hub at {server.url} (token {args.token}); export HF_ENDPOINT={server.url} HF_HUB_DISABLE_XET=1")
    server.httpd.serve_forever()
