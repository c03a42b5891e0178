"""Large payloads (uploaded manifests) carried over JetStream in chunks.

NATS caps a message at 1 MiB by default and the object store of nats-py reads 50 MB in about
6 s here, so a file travels as 512 KiB chunks on `<prefix>.upl.<blob_id>` and is read back
with one batched pull (about 0.13 s for 50 MB). The reference (`BlobRef`) goes in a command.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from rampart_contracts.errors import ServiceUnavailable, ValidationFailed
from rampart_contracts.lineage import BlobRef
from rampart_contracts.subjects import Subjects

CHUNK = 512 * 1024


async def put_blob(js: object, subjects: Subjects, data: bytes) -> BlobRef:
    blob_id = uuid.uuid4().hex
    subject = subjects.upload(blob_id)
    acks = [
        await js.publish_async(subject, data[i : i + CHUNK])  # type: ignore[attr-defined]
        for i in range(0, len(data), CHUNK)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*acks), timeout=30)
    except Exception as exc:
        raise ServiceUnavailable("could not store the upload on the bus",
                                 {"reason": type(exc).__name__}) from None
    return BlobRef(blob_id=blob_id, size=len(data), chunks=len(acks),
                   sha256=hashlib.sha256(data).hexdigest())


async def get_blob(js: object, subjects: Subjects, ref: BlobRef, timeout: float = 30) -> bytes:
    """Read every chunk in order; a missing or altered chunk is an error, never a partial file."""
    if ref.chunks == 0:
        return b""
    sub = await js.pull_subscribe(  # type: ignore[attr-defined]
        subjects.upload(ref.blob_id), durable=None, stream=subjects.uploads_stream,
        config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                              inactive_threshold=60.0),
    )
    parts: list[bytes] = []
    try:
        while len(parts) < ref.chunks:
            msgs = await sub.fetch(batch=min(64, ref.chunks - len(parts)), timeout=timeout)
            parts.extend(m.data for m in msgs)
    except TimeoutError:
        raise ValidationFailed("the uploaded file is no longer available; upload it again") \
            from None
    finally:
        await sub.unsubscribe()
    data = b"".join(parts)
    if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
        raise ValidationFailed("the uploaded file arrived damaged; upload it again")
    return data


async def delete_blob(js: object, subjects: Subjects, ref: BlobRef) -> None:
    await js.purge_stream(subjects.uploads_stream,  # type: ignore[attr-defined]
                          subject=subjects.upload(ref.blob_id))
