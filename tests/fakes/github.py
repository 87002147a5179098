"""A fake GitHub REST API: repositories with issues, branches, files and pull requests.

It wants `Authorization: Bearer <token>` (else 401, as GitHub answers a bad token) and answers
in GitHub's shapes: errors are {"message", "errors"?, "documentation_url"}, lists page with
`per_page`/`page` and a `Link` header. An issue's and a pull request's numbers share one
sequence per repository, and the issues list holds pull requests too, as GitHub's does.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fakes.server import FakeServer, Recorded, Reply

_Route = Callable[[Recorded, "_Repo", list[str]], Reply]
DOCS = "https://docs.github.com/rest"


class GitHubError(Exception):
    """An API error, answered as `status` with GitHub's error body."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors:
            self.body["errors"] = errors


def _not_found() -> GitHubError:
    return GitHubError(404, "Not Found")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()


class _Repo:
    def __init__(self, full_name: str, default_branch: str) -> None:
        self.full_name = full_name
        self.owner = full_name.split("/")[0]
        self.default_branch = default_branch
        self.numbers = itertools.count(1)
        self.issues: list[dict[str, Any]] = []
        self.pulls: list[dict[str, Any]] = []
        first = _sha(full_name, "initial")
        self.branches: dict[str, str] = {default_branch: first}
        # branch -> path -> file (its text and blob sha)
        self.files: dict[str, dict[str, dict[str, str]]] = {default_branch: {}}
        # commit sha -> the files as of that commit
        self.commits: dict[str, dict[str, dict[str, str]]] = {first: {}}


class FakeGitHub(FakeServer):
    """GitHub's REST API for issues, git refs, contents and pull requests, in memory."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.repos: dict[str, _Repo] = {}
        repo = r"/repos/([^/]+/[^/]+)"
        self._routes: list[tuple[str, re.Pattern[str], _Route]] = [
            ("GET", re.compile(repo), self._get_repo),
            ("GET", re.compile(repo + r"/issues"), self._list_issues),
            ("POST", re.compile(repo + r"/issues"), self._create_issue),
            ("GET", re.compile(repo + r"/git/ref/heads/(.+)"), self._get_ref),
            ("POST", re.compile(repo + r"/git/refs"), self._create_ref),
            ("GET", re.compile(repo + r"/contents/(.+)"), self._get_contents),
            ("PUT", re.compile(repo + r"/contents/(.+)"), self._put_contents),
            ("GET", re.compile(repo + r"/pulls"), self._list_pulls),
            ("POST", re.compile(repo + r"/pulls"), self._create_pull),
        ]

    # -- test helpers

    def add_repo(self, full_name: str, *, default_branch: str = "main") -> None:
        """A repository the token may use."""
        with self.lock:
            self.repos[full_name] = _Repo(full_name, default_branch)

    def issues(self, repo: str) -> list[dict[str, Any]]:
        """A repository's issues (not its pull requests), oldest first."""
        with self.lock:
            return [dict(i) for i in self.repos[repo].issues if "pull_request" not in i]

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        """A repository's pull requests, oldest first."""
        with self.lock:
            return [dict(p) for p in self.repos[repo].pulls]

    def branches(self, repo: str) -> dict[str, str]:
        """Branch -> head commit sha."""
        with self.lock:
            return dict(self.repos[repo].branches)

    def add_pull(
        self,
        repo: str,
        *,
        branch: str,
        body: str,
        state: str = "open",
        merged: bool = False,
        path: str = "README.md",
    ) -> dict[str, Any]:
        """A pull request made by someone (a person, another installation) from `branch`,
        made with a file of its own off the default branch if it is not there; `merged`
        makes it closed and merged."""
        with self.lock:
            r = self.repos[repo]
            if branch not in r.branches:
                base = r.branches[r.default_branch]
                files = {**r.commits[base], path: {"text": body, "sha": _sha("blob", body)}}
                commit = _sha(base, path, body)
                r.commits[commit] = files
                r.branches[branch] = commit
                r.files[branch] = dict(files)
            state = "closed" if merged else state
            pull = self._new_pull(
                r, title=f"Someone's {branch}", body=body, head=branch, state=state, merged=merged
            )
            return dict(pull)

    def file(self, repo: str, branch: str, path: str) -> str | None:
        """A file's text on a branch, if it is there."""
        with self.lock:
            found = self.repos[repo].files.get(branch, {}).get(path)
            return found["text"] if found else None

    # -- the server

    def error_body(self, status: int) -> Any:
        if status == 403:
            return {"message": "API rate limit exceeded", "documentation_url": DOCS}
        if status == 429:
            return {"message": "You have exceeded a secondary rate limit", "status": "429"}
        return {"message": "Server Error"}

    def handle(self, req: Recorded) -> Reply:
        if self.token is not None:
            if req.headers.get("authorization") != f"Bearer {self.token}":
                return Reply(401, {"message": "Bad credentials", "documentation_url": DOCS})
        try:
            if req.method in ("POST", "PUT") and not isinstance(req.json, dict):
                raise GitHubError(400, "Problems parsing JSON")
            for method, pattern, route in self._routes:
                match = pattern.fullmatch(req.path.rstrip("/"))
                if match and method == req.method:
                    repo = self.repos.get(match.group(1))
                    if repo is None:
                        raise _not_found()
                    return route(req, repo, [unquote(g) for g in match.groups()[1:]])
            raise _not_found()
        except GitHubError as e:
            return Reply(e.status, e.body)

    def _page(self, req: Recorded, items: list[dict[str, Any]]) -> Reply:
        per_page = min(100, int(req.query.get("per_page", ["30"])[-1]))
        page = int(req.query.get("page", ["1"])[-1])
        start = (page - 1) * per_page
        headers = {}
        if start + per_page < len(items):
            query = {k: v[-1] for k, v in req.query.items()}
            query["page"] = str(page + 1)
            headers["Link"] = f'<{self.url.rstrip("/")}{req.path}?{urlencode(query)}>; rel="next"'
        return Reply(200, items[start : start + per_page], headers)

    # -- repositories and issues

    def _get_repo(self, req: Recorded, repo: _Repo, _: list[str]) -> Reply:
        return Reply(
            200,
            {
                "full_name": repo.full_name,
                "name": repo.full_name.split("/")[1],
                "owner": {"login": repo.owner},
                "default_branch": repo.default_branch,
                "html_url": f"https://github.com/{repo.full_name}",
            },
        )

    def _list_issues(self, req: Recorded, repo: _Repo, _: list[str]) -> Reply:
        state = req.query.get("state", ["open"])[-1]
        labels = [x for x in req.query.get("labels", [""])[-1].split(",") if x]
        since = req.query.get("since", [""])[-1]
        found = [
            i
            for i in repo.issues
            if (state == "all" or i["state"] == state)
            and all(label in [x["name"] for x in i["labels"]] for label in labels)
            and (not since or i["updated_at"] >= since)
        ]
        if req.query.get("direction", ["desc"])[-1] == "desc":
            found = found[::-1]
        return self._page(req, found)

    def _create_issue(self, req: Recorded, repo: _Repo, _: list[str]) -> Reply:
        spec = req.json
        if not spec.get("title"):
            raise GitHubError(
                422,
                "Validation Failed",
                [{"resource": "Issue", "code": "missing_field", "field": "title"}],
            )
        number = next(repo.numbers)
        now = _now()
        issue = {
            "number": number,
            "title": spec["title"],
            "body": spec.get("body"),
            "state": "open",
            # GitHub makes the labels an issue is opened with that the repository lacks.
            "labels": [{"name": str(label)} for label in spec.get("labels") or []],
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}",
            "created_at": now,
            "updated_at": now,
        }
        repo.issues.append(issue)
        return Reply(201, issue)

    # -- branches and files

    def _get_ref(self, req: Recorded, repo: _Repo, groups: list[str]) -> Reply:
        branch = groups[0]
        if branch not in repo.branches:
            raise _not_found()
        return Reply(
            200,
            {
                "ref": f"refs/heads/{branch}",
                "object": {"sha": repo.branches[branch], "type": "commit"},
            },
        )

    def _create_ref(self, req: Recorded, repo: _Repo, _: list[str]) -> Reply:
        ref, sha = str(req.json.get("ref") or ""), str(req.json.get("sha") or "")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise GitHubError(422, "Reference name must start with 'refs/' and have two slashes")
        if sha not in repo.commits:
            raise GitHubError(422, "Object does not exist")
        branch = ref.removeprefix("refs/heads/")
        if branch in repo.branches:
            raise GitHubError(422, "Reference already exists")
        repo.branches[branch] = sha
        repo.files[branch] = dict(repo.commits[sha])
        return Reply(201, {"ref": ref, "object": {"sha": sha, "type": "commit"}})

    def _get_contents(self, req: Recorded, repo: _Repo, groups: list[str]) -> Reply:
        branch = req.query.get("ref", [repo.default_branch])[-1]
        found = repo.files.get(branch, {}).get(groups[0])
        if found is None:
            raise _not_found()
        return Reply(
            200,
            {
                "type": "file",
                "path": groups[0],
                "sha": found["sha"],
                "encoding": "base64",
                "content": base64.b64encode(found["text"].encode()).decode(),
            },
        )

    def _put_contents(self, req: Recorded, repo: _Repo, groups: list[str]) -> Reply:
        path, spec = groups[0], req.json
        branch = str(spec.get("branch") or repo.default_branch)
        if branch not in repo.branches:
            raise GitHubError(404, f"Branch {branch} not found")
        if not spec.get("message") or "content" not in spec:
            raise GitHubError(422, 'Invalid request.\n\n"message" and "content" are required.')
        existing = repo.files[branch].get(path)
        if existing is not None and "sha" not in spec:
            raise GitHubError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if existing is not None and spec["sha"] != existing["sha"]:
            raise GitHubError(409, f"{path} does not match {spec['sha']}")
        text = base64.b64decode(spec["content"]).decode()
        blob = _sha("blob", text)
        files = {**repo.files[branch], path: {"text": text, "sha": blob}}
        commit = _sha(repo.branches[branch], path, blob)
        repo.commits[commit] = files
        repo.files[branch] = dict(files)
        repo.branches[branch] = commit
        return Reply(
            200 if existing else 201,
            {"content": {"path": path, "sha": blob}, "commit": {"sha": commit}},
        )

    # -- pull requests

    def _list_pulls(self, req: Recorded, repo: _Repo, _: list[str]) -> Reply:
        state = req.query.get("state", ["open"])[-1]
        head = req.query.get("head", [""])[-1]
        found = [
            p
            for p in repo.pulls
            if (state == "all" or p["state"] == state)
            and (not head or head == f"{repo.owner}:{p['head']['ref']}")
        ]
        return self._page(req, found[::-1])

    def _create_pull(self, req: Recorded, repo: _Repo, _: list[str]) -> Reply:
        spec = req.json
        head, base = str(spec.get("head") or ""), str(spec.get("base") or "")
        head = head.split(":", 1)[1] if ":" in head else head
        invalid = [
            {"resource": "PullRequest", "code": "invalid", "field": field}
            for field, branch in (("head", head), ("base", base))
            if branch not in repo.branches
        ]
        if invalid:
            raise GitHubError(422, "Validation Failed", invalid)
        for other in repo.pulls:
            if other["head"]["ref"] == head and other["state"] == "open":
                raise GitHubError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {repo.owner}:{head}.",
                        }
                    ],
                )
        if repo.files[head] == repo.files[base]:
            raise GitHubError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"No commits between {base} and {head}",
                    }
                ],
            )
        pull = self._new_pull(repo, title=spec.get("title"), body=spec.get("body"), head=head)
        pull["base"] = {"ref": base}
        return Reply(201, pull)

    def _new_pull(
        self,
        repo: _Repo,
        *,
        title: Any,
        body: Any,
        head: str,
        state: str = "open",
        merged: bool = False,
    ) -> dict[str, Any]:
        number = next(repo.numbers)
        now = _now()
        pull = {
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "merged_at": now if merged else None,
            "head": {"ref": head, "sha": repo.branches[head]},
            "base": {"ref": repo.default_branch},
            "html_url": f"https://github.com/{repo.full_name}/pull/{number}",
            "created_at": now,
            "updated_at": now,
        }
        repo.pulls.append(pull)
        repo.issues.append(
            {
                "number": number,
                "title": pull["title"],
                "body": pull["body"],
                "state": state,
                "labels": [],
                "html_url": pull["html_url"],
                "pull_request": {"html_url": pull["html_url"]},
                "created_at": now,
                "updated_at": now,
            }
        )
        return pull
