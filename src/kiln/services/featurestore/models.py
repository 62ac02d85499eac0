"""Feature Store domain objects: plain dataclasses, snake_case, no AWS shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kiln.core import arns
from kiln.core.scope import Scope

FEATURESTORE_DATABASE = "sagemaker_featurestore"
DEFAULT_CATALOG = "AwsDataCatalog"
# Columns the offline store adds to every row (SageMaker's names).
WRITE_TIME = "write_time"
API_INVOCATION_TIME = "api_invocation_time"
IS_DELETED = "is_deleted"
OFFLINE_EXTRA_COLUMNS = (WRITE_TIME, API_INVOCATION_TIME, IS_DELETED)


class FeatureType(StrEnum):
    INTEGRAL = "Integral"
    FRACTIONAL = "Fractional"
    STRING = "String"


class CollectionType(StrEnum):
    LIST = "List"
    SET = "Set"
    VECTOR = "Vector"


class GroupStatus(StrEnum):
    CREATING = "Creating"
    CREATED = "Created"
    CREATE_FAILED = "CreateFailed"
    DELETING = "Deleting"
    DELETE_FAILED = "DeleteFailed"


class OfflineStatus(StrEnum):
    ACTIVE = "Active"
    BLOCKED = "Blocked"
    DISABLED = "Disabled"


class TargetStore(StrEnum):
    ONLINE = "OnlineStore"
    OFFLINE = "OfflineStore"


TTL_UNITS: dict[str, int] = {"Seconds": 1, "Minutes": 60, "Hours": 3600, "Days": 86400, "Weeks": 604800}


@dataclass(frozen=True, slots=True)
class Ttl:
    unit: str
    value: int

    @property
    def seconds(self) -> int:
        return TTL_UNITS[self.unit] * self.value


@dataclass(frozen=True, slots=True)
class FeatureDefinition:
    name: str
    type: FeatureType
    collection: CollectionType | None = None
    vector_dimension: int | None = None


@dataclass(frozen=True, slots=True)
class OnlineConfig:
    enabled: bool
    ttl: Ttl | None = None
    storage_type: str | None = None
    kms_key_id: str | None = None


@dataclass(frozen=True, slots=True)
class OfflineConfig:
    s3_uri: str
    resolved_uri: str  # .../offline-store/<group>-<epoch>/data
    catalog: str
    database: str
    table: str
    disable_glue: bool = False
    table_format: str | None = None
    kms_key_id: str | None = None


@dataclass(slots=True)
class FeatureMetadata:
    description: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    modified_at: float | None = None


@dataclass(slots=True)
class FeatureGroup:
    """A feature group. `store_id` keys its online records and offline buffer (a recreated group of the
    same name gets a fresh one, so it never sees the old group's records)."""

    scope: Scope
    name: str
    store_id: str
    record_id_name: str
    event_time_name: str
    features: list[FeatureDefinition]
    online: OnlineConfig | None
    offline: OfflineConfig | None
    status: GroupStatus
    created_at: float
    modified_at: float
    role_arn: str | None = None
    description: str | None = None
    throughput: dict[str, object] | None = None
    failure_reason: str | None = None
    last_update: tuple[str, str | None] | None = None  # (status, failure reason)
    metadata: dict[str, FeatureMetadata] = field(default_factory=dict)
    last_ingest_at: float | None = None

    @property
    def arn(self) -> str:
        return arns.sagemaker(self.scope, "feature-group", self.name)

    @property
    def online_enabled(self) -> bool:
        return self.online is not None and self.online.enabled

    def feature(self, name: str) -> FeatureDefinition | None:
        for f in self.features:
            if f.name == name:
                return f
        return None

    @property
    def feature_map(self) -> dict[str, FeatureDefinition]:
        return {f.name: f for f in self.features}

    @property
    def event_time_type(self) -> FeatureType:
        f = self.feature(self.event_time_name)
        assert f is not None
        return f.type


# A record as the API carries it: feature name -> string value, or a list of strings for collections.
Value = str | list[str]
Record = dict[str, Value]


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """A validated record: the raw strings, the identifier, and the event time as epoch seconds."""

    values: Record
    record_id: str
    event_time: float


@dataclass(frozen=True, slots=True)
class OnlineRecord:
    """What the online store keeps per record identifier (the latest event time wins)."""

    values: Record
    event_time: float
    written_at: float
    expires_at: float | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class OfflineRow:
    """One row appended to the offline store (every accepted write, superseded ones too)."""

    values: Record
    event_time: float
    api_time: float
    is_deleted: bool = False


@dataclass(frozen=True, slots=True)
class FeatureGroupSpec:
    """What CreateFeatureGroup asks for (wire.py builds it from the request)."""

    name: str
    record_id_name: str
    event_time_name: str
    features: list[FeatureDefinition]
    online: OnlineConfig | None
    offline_s3_uri: str | None = None
    offline_kms_key_id: str | None = None
    disable_glue: bool = False
    catalog: tuple[str, str, str] | None = None  # (catalog, database, table) when the user names them
    table_format: str | None = None
    role_arn: str | None = None
    description: str | None = None
    throughput: dict[str, object] | None = None
