"""One transform instance at work: its input objects are read and split in a worker thread, up to
`MaxConcurrentTransforms` requests are in flight to its model server at once (across object
boundaries, so many small objects pipeline as well as one large one), and each object's responses
are assembled in order into `<relative name>.out`.

A record the model refuses (4xx), an error it reports (5xx, after `InvocationsMaxRetries` retries),
or no answer within `InvocationsTimeoutInSeconds` fails the job, with the lines SageMaker writes to
the job's log (`[sagemaker logs]: bucket/key: ...`) and its FailureReason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.core.errors import DomainError
from kiln.services.hosting.upstream import UpstreamError, UpstreamTimeout
from kiln.services.s3.store import ObjectStore
from kiln.services.transform import capture, records
from kiln.services.transform.dataproc import ProcessingError, Processor
from kiln.services.transform.inputs import InputFile, output_location
from kiln.services.transform.models import RunSettings

LOG = logging.getLogger(__name__)
FLUSH_BYTES = 8 << 20  # an object's assembled output goes to its temp file in pieces of about this size
READ_AHEAD_BYTES = 32 << 20
CLIENT_FAILURE = "ClientError: See job logs for more information"
ALGORITHM_FAILURE = "AlgorithmError: See job logs for more information"


class RecordFailed(Exception):
    """A record failed; `reason` is the job's FailureReason, `lines` what the job log says."""

    def __init__(self, reason: str, lines: list[str]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lines = lines


@dataclass
class Counters:
    files: int = 0
    records_bytes: int = 0
    requests: int = 0
    output_bytes: int = 0


@dataclass
class _Output:
    """One input object's output, assembled in request order."""

    source: InputFile
    path: Path
    done: dict[int, bytes] = field(default_factory=dict)
    next_index: int = 0
    expected: int | None = None
    buffered: list[bytes] = field(default_factory=list)
    buffered_bytes: int = 0
    written: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, index: int, data: bytes) -> None:
        self.done[index] = data
        while self.next_index in self.done:
            chunk = self.done.pop(self.next_index)
            self.buffered.append(chunk)
            self.buffered_bytes += len(chunk)
            self.next_index += 1
        self.check()

    def check(self) -> None:
        if self.expected is not None and self.next_index >= self.expected:
            self.finished.set()

    def drain(self) -> list[bytes]:
        chunks, self.buffered, self.buffered_bytes = self.buffered, [], 0
        return chunks


class InstanceWorker:
    def __init__(self, *, clients: list[Any], objects: ObjectStore, settings: RunSettings, output_path: str,
                 work_dir: Path) -> None:
        self.clients = clients  # UpstreamPools to the instance's model-server worker processes
        self.inflight = [0] * len(clients)
        self.objects = objects
        self.settings = settings
        self.output_path = output_path
        self.work_dir = work_dir
        self.counters = Counters()
        s = settings
        self.processor = (Processor(s.content_type, s.accept, s.input_filter, s.output_filter, s.join_input)
                          if s.data_processing else None)
        self.headers: list[tuple[str, str]] = []
        if s.content_type:
            self.headers.append(("Content-Type", s.content_type))
        if s.accept:
            self.headers.append(("Accept", s.accept))
        self._window = asyncio.Semaphore(max(1, s.max_concurrent))
        self._failure: RecordFailed | None = None
        self._failed = asyncio.Event()

    async def run(self, files: list[InputFile]) -> Counters:
        """Transform every file; raises RecordFailed on the first failed record."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        tasks: set[asyncio.Task[None]] = set()
        finishers: list[asyncio.Task[None]] = []
        try:
            for source in files:
                out = _Output(source, Path(tempfile.mkstemp(dir=self.work_dir, suffix=".out")[1]))
                count = await self._feed(source, out, tasks)
                out.expected = count
                out.check()
                finishers.append(asyncio.create_task(self._finish(out)))
                self._raise_failure()
            await asyncio.gather(*finishers)
            self._raise_failure()
        except BaseException:
            for task in [*tasks, *finishers]:
                task.cancel()
            await asyncio.gather(*tasks, *finishers, return_exceptions=True)
            raise
        return self.counters

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _feed(self, source: InputFile, out: _Output, tasks: set[asyncio.Task[None]]) -> int:
        s = self.settings
        try:
            raw = await asyncio.to_thread(self.objects.open, source.bucket, source.key)
        except DomainError as exc:  # deleted since the job listed it
            raise RecordFailed(CLIENT_FAILURE, [f"{source.label}: Unable to download the input: {exc}"]) from None
        opened = records.open_input(raw, s.compression)
        count = 0
        try:
            it = records.batches(opened, s.split_type, s.batch_strategy == "MultiRecord", s.max_payload_bytes,
                                 self.processor is not None)
            while True:
                try:
                    chunk = await asyncio.to_thread(records.take, it, 256, READ_AHEAD_BYTES)
                except records.RecordTooLarge as exc:
                    raise RecordFailed(CLIENT_FAILURE, [f"{source.label}: {exc}"]) from None
                except (records.BadFraming, OSError, EOFError) as exc:
                    raise RecordFailed(CLIENT_FAILURE, [f"{source.label}: Unable to split the input: {exc}"]) \
                        from None
                if not chunk:
                    return count
                for batch in chunk:
                    await self._window.acquire()
                    self._raise_failure()
                    task = asyncio.create_task(self._invoke(source, out, batch))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    count += 1
        finally:
            await asyncio.to_thread(_close, opened, raw)  # a GzipFile leaves its source open

    async def _invoke(self, source: InputFile, out: _Output, batch: records.Batch) -> None:
        try:
            body = batch.body
            if self.processor is not None and batch.records is not None:
                body = await asyncio.to_thread(self.processor.request_body, batch.records,
                                               self.settings.batch_strategy == "SingleRecord")
            response = await self._post(source, body)
            if self.processor is not None and batch.records is not None:
                data = await asyncio.to_thread(self.processor.outputs, batch.records, response)
            elif self.settings.assemble_with == "Line" and not response.endswith(b"\n"):
                data = response + b"\n"
            else:
                data = response
            if self.settings.inference_ids:
                data = await asyncio.to_thread(capture.append_ids, data, self.settings.inference_ids,
                                               self.settings.inference_time)
            self.counters.requests += 1
            self.counters.records_bytes += len(batch.body)
            out.put(batch.index, data)
            if out.buffered_bytes >= FLUSH_BYTES:
                chunks = out.drain()
                out.written += await asyncio.to_thread(_append, out.path, chunks)
        except RecordFailed as exc:
            self._fail(exc)
        except ProcessingError as exc:
            self._fail(RecordFailed(CLIENT_FAILURE, [f"{source.label}: {exc}"]))
        except Exception as exc:  # Kiln's own bug: fail the job rather than hang it
            LOG.exception("transform request failed")
            self._fail(RecordFailed(f"InternalServerError: {type(exc).__name__}: {exc}",
                                    [f"{source.label}: Kiln: {type(exc).__name__}: {exc}"]))
        finally:
            self._window.release()

    def _fail(self, exc: RecordFailed) -> None:
        if self._failure is None:
            self._failure = exc
            self._failed.set()

    async def _post(self, source: InputFile, body: bytes) -> bytes:
        s = self.settings
        attempt = 0
        while True:
            pick = min(range(len(self.clients)), key=self.inflight.__getitem__)  # the least busy worker
            self.inflight[pick] += 1
            try:
                response = await self.clients[pick].request("POST", "/invocations", self.headers, body,
                                                            timeout=s.timeout)
            except UpstreamTimeout:
                failure = RecordFailed(ALGORITHM_FAILURE, [
                    f"{source.label}: Model server did not respond to /invocations request within {s.timeout:g} "
                    "seconds"])
            except UpstreamError as exc:
                failure = RecordFailed(ALGORITHM_FAILURE, [f"{source.label}: Unable to get response from algorithm",
                                                           f"{source.label}: {exc}"])
            else:
                if response.status < 400:
                    return response.body
                failure = _bad_status(source, response.status, response.body)
                if response.status < 500:
                    raise failure
            finally:
                self.inflight[pick] -= 1
            attempt += 1
            if attempt > s.retries:
                raise failure
            await asyncio.sleep(min(2.0, 0.1 * 2 ** attempt))

    async def _finish(self, out: _Output) -> None:
        try:
            finished, failed = asyncio.ensure_future(out.finished.wait()), asyncio.ensure_future(self._failed.wait())
            await asyncio.wait({finished, failed}, return_when=asyncio.FIRST_COMPLETED)
            finished.cancel()
            failed.cancel()
            if self._failure is not None:
                return
            chunks = out.drain()
            out.written += await asyncio.to_thread(_append, out.path, chunks)
            bucket, key = output_location(self.output_path, out.source.relative)
            await asyncio.to_thread(self.objects.put_file, bucket, key, out.path, self.settings.accept)
            self.counters.files += 1
            self.counters.output_bytes += out.written
        except Exception as exc:  # the output cannot be written (a missing bucket, a full disk)
            self._fail(RecordFailed(f"ClientError: Unable to upload the output of {out.source.label}: {exc}",
                                    [f"{out.source.label}: Unable to upload output: {exc}"]))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(out.path)


def _close(*streams: Any) -> None:
    for stream in streams:
        stream.close()


def _append(path: Path, chunks: list[bytes]) -> int:
    with open(path, "ab") as f:
        f.writelines(chunks)
    return sum(len(c) for c in chunks)


def _bad_status(source: InputFile, status: int, body: bytes) -> RecordFailed:
    label = source.label
    head = f"{label}: ClientError: {status}" if status < 500 else f"{label}: Bad HTTP status received from " \
                                                                  f"algorithm: {status}"
    message = body.decode("utf-8", "replace").splitlines()[-40:] or [""]
    lines = [head, f"{label}: ", f"{label}: Message:", *(f"{label}: {m}" for m in message)]
    return RecordFailed(CLIENT_FAILURE if status < 500 else ALGORITHM_FAILURE, lines)
