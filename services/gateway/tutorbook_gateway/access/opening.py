"""Opening the access records for a gateway process: the store the settings name, the directory read once
and kept fresh in the background, the audit log and the admin functions over them."""

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

from tutorbook_config.local_keys import split_keys
from tutorbook_config.redis_target import RedisTarget
from tutorbook_gateway.access.admin import AccessAdmin, AccessBounds
from tutorbook_gateway.access.audit import AuditLog
from tutorbook_gateway.access.directory import KeyDirectory, bootstrap_callers
from tutorbook_gateway.access.records import MemoryRecords, RecordStore, RedisRecords
from tutorbook_gateway.settings import KeySettings
from tutorbook_gateway.state.backend import StateUnavailableError

RECORDS_TIMEOUT_SECONDS = 2.0  # admin writes and the version poll; chat never waits on them
log = logging.getLogger("tutorbook.access")


@dataclass(frozen=True)
class Access:
    directory: KeyDirectory
    audit: AuditLog
    admin: AccessAdmin


def record_store(keys: KeySettings, shared_redis: RedisTarget) -> RecordStore:
    """The records' own Redis if the deployment names one, else the shared state's."""
    target = keys.records_target() or shared_redis
    if not target.configured:
        return MemoryRecords()
    return RedisRecords(target, RECORDS_TIMEOUT_SECONDS, keys.records_replicas)


async def open_access(keys: KeySettings, shared_redis: RedisTarget, stack: AsyncExitStack) -> Access:
    records = record_store(keys, shared_redis)
    stack.push_async_callback(records.close)
    directory = KeyDirectory(records, bootstrap_callers(split_keys(keys.api_keys), split_keys(keys.admin_keys)))
    try:
        await directory.refresh()
    except StateUnavailableError as exc:  # bootstrap keys work; runtime keys once the store answers
        log.warning("access records unreadable at start: %s", exc)
    refreshing = asyncio.create_task(directory.keep_fresh(keys.refresh_seconds))
    stack.callback(refreshing.cancel)
    audit = AuditLog(records, keys.audit_max_entries)
    bounds = AccessBounds(keys.max_teams, keys.max_keys, keys.max_models_per_key, keys.max_grace_seconds)
    return Access(directory, audit, AccessAdmin(records, directory, audit, bounds))
