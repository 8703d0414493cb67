"""The full bot under the benchmark's load, sampled by py-spy: where its threads spend their time.

    .venv/bin/python -m bench.spy [--py-spy PATH] [--duration 20] [--users 16] [--out FILE]

py-spy is not a dependency (install it in a venv of its own: `python3 -m venv /tmp/spyenv &&
/tmp/spyenv/bin/pip install py-spy`). Prints the functions with the most samples, by own time
(the innermost frame) and by total time (anywhere on the stack), per thread; `--out` keeps the
raw collapsed stacks for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.harness import (
    TENANT,
    Client,
    Sink,
    Stats,
    add_user_conversations,
    admin_id,
    bot_env,
    free_port,
    server,
)

# Where an innermost frame's file lives, for the summary by package (py-spy shortens the paths).
PACKAGES = (
    "microsoft_agents",
    "pydantic",
    "opentelemetry",
    "aiohttp",
    "sqlalchemy",
    "microsoft_teams",
    "yarl",
    "multidict",
    "json",
    "copy",
    "asyncio",
    "bot/",
    "dialogs/",
    "cards/",
    "services/",
    "i18n/",
)


def package_of(frame: str) -> str:
    """`json`, `sqlalchemy`, `services/`... for `Name (path/of/file.py:12)`; the path otherwise."""
    path = frame.rpartition(" (")[2].partition(":")[0]
    if "EpollSelector.select" in frame:
        return "waiting (epoll)"
    return next((p for p in PACKAGES if path.startswith(p)), path)


# Whose work a sample is: the innermost frame of one of these; a library's frames (pydantic,
# copy, json, opentelemetry, asyncio's) count for the code that called it.
OWNERS = (
    # py-spy names the SDK's files from below microsoft_agents/hosting/ and microsoft_agents/.
    (
        "the Agents SDK",
        (
            "microsoft_agents",
            "core/",
            "activity/",
            "authentication/",
            "aiohttp/cloud_adapter.py",
            "aiohttp/agent_http_adapter.py",
            "aiohttp/_aiohttp_request_adapter.py",
            "aiohttp/jwt_authorization_middleware.py",
        ),
    ),
    ("this project", ("bot/", "dialogs/", "cards/", "services/", "i18n/")),
    ("SQLAlchemy and sqlite3", ("sqlalchemy",)),
    ("aiohttp", ("aiohttp",)),
)


def owner_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        package = package_of(frame)
        if package == "waiting (epoll)":
            return package
        for owner, prefixes in OWNERS:
            if package.startswith(prefixes):
                return owner
    return "the event loop and the rest"


def report(raw: str, top: int) -> None:
    """The collapsed stacks' heaviest functions, per thread."""
    own: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    total: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_package: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_owner: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    samples: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith("thread") else "?"
        frames = [f for f in frames[1:] if f]
        samples[thread] += count
        if frames:
            own[thread][frames[-1]] += count
            by_package[thread][package_of(frames[-1])] += count
            by_owner[thread][owner_of(frames)] += count
        for frame in set(frames):
            total[thread][frame] += count
    for thread, n in samples.most_common():
        print(f"\n== {thread}: {n} samples")
        print("-- by whose work (a library's frames count for their caller)")
        for owner, count in by_owner[thread].most_common():
            print(f"{100 * count / n:5.1f}%  {owner}")
        print("-- by package (innermost frame)")
        for package, count in by_package[thread].most_common(12):
            print(f"{100 * count / n:5.1f}%  {package}")
        print("-- own")
        for frame, count in own[thread].most_common(top):
            print(f"{100 * count / n:5.1f}%  {frame}")
        print("-- total")
        for frame, count in total[thread].most_common(top):
            print(f"{100 * count / n:5.1f}%  {frame}")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--py-spy", default="/tmp/spyenv/bin/py-spy")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--gil", action="store_true", help="only the thread holding the GIL")
    args = parser.parse_args()
    sink = Sink()
    await sink.start()
    conversations = int(60 * args.duration) + 500
    port = free_port()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = bot_env(Path(tmp), "bot", port, conversations, conversations)
            counter = iter(range(conversations))
            async with aiohttp.ClientSession() as http, server(["app.py"], port, env) as pid:
                url = f"http://127.0.0.1:{port}"
                stats = Stats()

                def client(index: int) -> Client:
                    return Client(http, url, sink, admin_id(index), TENANT, stats)

                await add_user_conversations(client, lambda: next(counter), time.monotonic() + 2)
                raw = Path(tmp) / "spy.txt"
                spy = await asyncio.create_subprocess_exec(
                    args.py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--threads",
                    "--nonblocking",
                    "--duration",
                    str(int(args.duration)),
                    "--output",
                    str(raw),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                deadline = time.monotonic() + args.duration
                await asyncio.gather(
                    *(
                        add_user_conversations(client, lambda: next(counter), deadline)
                        for _ in range(args.users)
                    )
                )
                await spy.wait()
                text = raw.read_text()
                if args.out:
                    args.out.write_text(text)
                print(f"{stats.conversations} conversations, {stats.errors} errors")
                report(text, args.top)
    finally:
        await sink.stop()


if __name__ == "__main__":
    asyncio.run(main())
