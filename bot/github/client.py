"""`GitHubClient`: the GitHub REST API in the words of incident close-out, over httpx.

Every method is safe to repeat after an attempt whose answer was lost: an issue or a pull
request is found again by a hidden marker in its body, and each step of a pull request
(branch, file, pull request) treats "already there" as done. Failures become the worker's
retry decisions."""

import base64
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.hubs.schema import GITHUB_REPO_PATTERN
from bot.jobs.attempt import GiveUp, RetryLater, Unreachable, heard_from, retry_after

API_VERSION = "2022-11-28"
REPO = re.compile(GITHUB_REPO_PATTERN)
# How many pages of 100 issues a search for a marker reads at most.
MAX_PAGES = 10
# A rate limit without a hint of its own (GitHub's secondary limits): wait at least a minute.
RATE_LIMIT_WAIT = 60.0
# How many names a report's branch is tried under (`<branch>`, `<branch>-2`, ...) when pull
# requests that are not ours come from it.
BRANCH_TRIES = 5


@dataclass(frozen=True, slots=True)
class Issue:
    """An issue (or pull request) as incident-bot links it."""

    number: int
    url: str


class GitHubError(Exception):
    """GitHub refused a request for a reason worth looking at (a 4xx not handled here)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"GitHub answered {status}: {message}")
        self.status = status
        self.message = message


class GitHubPermanentError(GitHubError, GiveUp):
    """A refusal that retrying cannot mend."""


class GitHubClient:
    """The calls incident-bot makes to GitHub; failures become worker retry decisions."""

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "incident-bot",
            },
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
        )

    def close(self) -> None:
        """Let go of the connections."""
        self.http.close()

    # -- issues

    def open_issue(
        self, repo: str, *, title: str, body: str, labels: list[str], marker: str
    ) -> Issue:
        """Open an issue; `marker` must be in `body`, for `find_issue` to find it again."""
        if marker not in body:
            raise ValueError("the marker must be in the body")
        data = self._call(
            "POST",
            f"{_repo_path(repo)}/issues",
            repo=repo,
            json={"title": title[:256], "body": body, "labels": labels},
        )
        return Issue(int(data["number"]), str(data["html_url"]))

    def find_issue(self, repo: str, *, marker: str, since: datetime) -> Issue | None:
        """The issue whose body holds `marker`, among those changed since `since`: the issue
        of an earlier attempt whose answer was lost.

        Not filtered by label: GitHub drops the labels of a token without push access
        silently, and the marker is what identifies the issue anyway."""
        params: dict[str, str | int] | None = {
            "state": "all",
            "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sort": "created",
            "direction": "desc",
            "per_page": 100,
        }
        url: str | None = f"{_repo_path(repo)}/issues"
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self._send("GET", url, repo=repo, params=params)
            for item in response.json():
                if marker in str(item.get("body") or ""):
                    return Issue(int(item["number"]), str(item["html_url"]))
            # The next page's link carries the query already.
            url, params = response.links.get("next", {}).get("url"), None
        return None

    # -- pull requests

    def open_pull_request(
        self,
        repo: str,
        *,
        branch: str,
        path: str,
        content: str,
        title: str,
        body: str,
        message: str,
        marker: str,
    ) -> Issue:
        """Open a pull request that adds the file `path` on a new `branch` of the default one;
        `marker` must be in `body`: only a pull request that carries it is ours.

        One of ours that is open, or merged, is returned: an earlier attempt opened it and its
        answer was lost. One of ours closed unmerged is not the report published: a new one is
        opened (from the same branch, which is ours). A branch from which a pull request
        that is not ours comes is someone else's: the next name, `<branch>-2`, ... is used.
        On a branch of ours, a file already there is left as it is (a person may have edited
        it)."""
        if marker not in body:
            raise ValueError("the marker must be in the body")
        base = self._default_branch(repo)
        names = [branch] + [f"{branch}-{n}" for n in range(2, BRANCH_TRIES + 1)]
        for name in names:
            pulls = self._pulls_from(repo, name)
            ours = [p for p in pulls if _carries(p, marker)]
            done = [p for p in ours if p.get("state") == "open" or p.get("merged_at")]
            if done:
                return _best(done)
            if len(ours) < len(pulls):
                continue  # someone else's branch: never add our report to it
            return self._open_from(
                repo,
                name,
                base,
                path=path,
                content=content,
                title=title,
                body=body,
                message=message,
                marker=marker,
            )
        raise GiveUp(
            f"branches {names[0]} to {names[-1]} of {repo} all have pull requests that "
            "incident-bot did not open: none of them is ours to add the report to"
        )

    def _open_from(
        self,
        repo: str,
        branch: str,
        base: str,
        *,
        path: str,
        content: str,
        title: str,
        body: str,
        message: str,
        marker: str,
    ) -> Issue:
        self._create_branch(repo, branch, base)
        if not self._file_exists(repo, path, branch):
            self._call(
                "PUT",
                f"{_repo_path(repo)}/contents/{quote(path.lstrip('/'))}",
                repo=repo,
                json={
                    "message": message,
                    "content": base64.b64encode(content.encode()).decode(),
                    "branch": branch,
                },
            )
        try:
            data = self._call(
                "POST",
                f"{_repo_path(repo)}/pulls",
                repo=repo,
                json={"title": title[:256], "head": branch, "base": base, "body": body},
            )
        except GitHubError as exc:
            if exc.status != 422 or "already exists" not in exc.message:
                raise
            # An attempt whose answer was lost opened it meanwhile, or someone else did.
            found = [
                p
                for p in self._pulls_from(repo, branch)
                if p.get("state") == "open" and _carries(p, marker)
            ]
            if not found:
                raise
            return _best(found)
        return Issue(int(data["number"]), str(data["html_url"]))

    def _default_branch(self, repo: str) -> str:
        data = self._call("GET", _repo_path(repo), repo=repo)
        return str(data.get("default_branch") or "main")

    def _create_branch(self, repo: str, branch: str, base: str) -> None:
        head = self._call("GET", f"{_repo_path(repo)}/git/ref/heads/{quote(base)}", repo=repo)
        try:
            self._call(
                "POST",
                f"{_repo_path(repo)}/git/refs",
                repo=repo,
                json={"ref": f"refs/heads/{branch}", "sha": head["object"]["sha"]},
            )
        except GitHubError as exc:
            if exc.status != 422 or "already exists" not in exc.message.lower():
                raise

    def _file_exists(self, repo: str, path: str, branch: str) -> bool:
        response = self._send(
            "GET",
            f"{_repo_path(repo)}/contents/{quote(path.lstrip('/'))}",
            repo=repo,
            params={"ref": branch},
            tolerate=(404,),
        )
        return response.status_code == 200

    def _pulls_from(self, repo: str, branch: str) -> list[dict[str, Any]]:
        """The pull requests from `branch` of `repo` itself, whatever their state."""
        owner = repo.split("/", 1)[0]
        found = self._call(
            "GET",
            f"{_repo_path(repo)}/pulls",
            repo=repo,
            params={"head": f"{owner}:{branch}", "state": "all", "per_page": 100},
        )
        return [p for p in found if isinstance(p, dict)]

    # -- HTTP

    def _call(self, method: str, url: str, *, repo: str, **kwargs: Any) -> Any:
        return self._send(method, url, repo=repo, **kwargs).json()

    def _send(
        self,
        method: str,
        url: str,
        *,
        repo: str,
        tolerate: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """One request; an answer in `tolerate` is returned, other errors raised as decisions."""
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.TransportError as exc:  # refused, reset, timed out, DNS
            raise Unreachable("github", f"{method} {url}: {exc!r}"[:300]) from exc
        if response.status_code < 500:
            heard_from("github")  # an answer, even "no": GitHub is up
        if response.is_success or response.status_code in tolerate:
            return response
        raise _decide(response, repo)


def _carries(pull: dict[str, Any], marker: str) -> bool:
    return marker in str(pull.get("body") or "")


def _best(pulls: list[dict[str, Any]]) -> Issue:
    """An open one if there is one, else the newest."""
    pull = max(pulls, key=lambda p: (p.get("state") == "open", int(p["number"])))
    return Issue(int(pull["number"]), str(pull["html_url"]))


def _repo_path(repo: str) -> str:
    if not REPO.fullmatch(repo):
        raise GiveUp(f"`{repo}` is not a GitHub repository (owner/name)")
    return f"repos/{repo}"


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(data, dict):
        return str(data)[:300]
    parts = [str(data.get("message") or "")]
    for error in data.get("errors") or []:
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
        elif isinstance(error, dict) and error.get("code"):
            parts.append(f"{error.get('field', '')} {error['code']}".strip())
    return ": ".join(p for p in parts if p)[:500]


def _decide(response: httpx.Response, repo: str) -> Exception:
    status = response.status_code
    where = f"{response.request.method} {response.request.url.path}"
    if status >= 500:
        return Unreachable("github", f"{where}: HTTP {status}")
    message = _message(response)
    headers = response.headers
    if status in (403, 429):
        if "retry-after" in headers:
            return RetryLater(retry_after(headers["retry-after"]), "GitHub rate limited")
        if headers.get("x-ratelimit-remaining") == "0":
            reset = retry_after(headers.get("x-ratelimit-reset"), time.time() + RATE_LIMIT_WAIT)
            return RetryLater(max(1.0, reset - time.time()), "GitHub rate limit used up")
        if status == 429 or "rate limit" in message.lower():
            return RetryLater(RATE_LIMIT_WAIT, "GitHub rate limited")
    if status == 401:
        return GitHubPermanentError(status, f"GITHUB_TOKEN was refused ({message})")
    if status == 403:
        return GitHubPermanentError(
            status, f"GITHUB_TOKEN may not do this in {repo}: {where} ({message})"
        )
    if status == 404:
        return GitHubPermanentError(
            status,
            f"{where}: not found; does {repo} exist, and may GITHUB_TOKEN see it? ({message})",
        )
    return GitHubPermanentError(status, f"{where}: {message}")
