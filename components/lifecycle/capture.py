"""``PredictionCapture``: where every model's captured predictions land, once per environment.

Model servers (and shadow versions and batch jobs) print one JSON line per sampled prediction, the
record contract below. Fluent Bit, already on every node, picks those lines out of the container
logs (``capture_log_filters``), keeps them out of CloudWatch, and sends them to this environment's
Kinesis Data Firehose stream. Firehose partitions them by model, version and day (dynamic
partitioning on the record's own fields), converts them to Parquet through the Glue table
``captures`` (the envelope), and writes them KMS-encrypted under the artifact store's ``captures/``
prefix, which the store expires per environment (``artifacts.capturesExpirationDays``). Each model's
``ModelMonitor`` adds a Glue table over its own ``captures/model=<name>/`` with partition projection,
so Athena queries need no crawler; an Athena workgroup keeps query results encrypted beside them.

Record contract (one JSON object per line on stdout; docs/monitoring.md)::

    {"schema": "mlops-platform/capture/v1", "request_id": "...", "model": "fraud-scorer",
     "version": "v6", "timestamp": "2026-12-07T10:00:00.123Z", "source": "online",
     "features": {"amount": 12.5, "country": "DE"}, "prediction": "1", "score": 0.93,
     "label_key": "txn-123"}

``source`` is ``online``, ``shadow`` or ``batch``; ``score`` and ``label_key`` are optional.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.components.foundation.service_role import service_role
from mlops_platform.components.refs import ArtifactsRef
from mlops_platform.components.support import iam
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, bounds_problems

SCHEMA = "mlops-platform/capture/v1"
"""The ``schema`` field that marks a log line as a capture record."""
PREFIX = "captures/"
ERROR_PREFIX = "captures-errors/"
QUERY_RESULTS_PREFIX = "athena-results/captures/"
ENVELOPE_TABLE = "captures"
COLUMNS = (
    ("request_id", "string"),
    ("model", "string"),
    ("version", "string"),
    ("timestamp", "string"),
    ("source", "string"),
    ("features", "map<string,string>"),
    ("prediction", "string"),
    ("score", "double"),
    ("label_key", "string"),
)
"""The envelope in Parquet: features as a map (each model's own), the prediction as text."""
PARTITIONS = ("model", "version", "dt")
# Firehose reads the partition keys from each record with jq; dt is the record's own day (UTC).
PARTITION_QUERY = "{model: .model, version: .version, dt: .timestamp[0:10]}"


def stream_name(context: StackContext) -> str:
    """The environment's stream, by name: Fluent Bit is configured before the stream exists."""
    return f"{context.name_prefix}-captures"


def database_name(context: StackContext) -> str:
    """Glue database names take no '-'."""
    return f"{context.name_prefix}_captures".replace("-", "_")


def capture_log_filters(stream: str, region: str) -> tuple[str, dict[str, str]]:
    """Fluent Bit's extra filters (aws-for-fluent-bit ``additionalFilters``) and its ``firehose``
    output values: capture records leave the container-log stream (``keep`` false: features never
    reach CloudWatch), are lifted out of the merged ``data`` key, trimmed to the contract, and sent
    to ``stream``."""
    keep = "\n".join(f"    Allowlist_key {column}" for column, _ in COLUMNS)
    filters = f"""[FILTER]
    Name          rewrite_tag
    Match         kube.*
    Rule          $data['schema'] ^{SCHEMA}$ capture.$TAG false
    Emitter_Name  captures
[FILTER]
    Name          nest
    Match         capture.*
    Operation     lift
    Nested_under  data
[FILTER]
    Name          record_modifier
    Match         capture.*
{keep}
"""
    return filters, {"match": "capture.*", "region": region, "deliveryStream": stream}


@dataclass(frozen=True)
class CaptureRef:
    """What a model's monitor needs from the capture pipeline."""

    database_name: str
    """Glue database of the capture tables."""
    stream_name: str


@spec
class PredictionCaptureSpec:
    """Prediction capture and the model monitors' Pushgateway."""

    enabled: bool = True
    """Capture predictions and run monitor jobs for the models that declare ``monitor``. Default: on."""
    buffer_seconds: int = 300
    """Seconds Firehose buffers before it writes a Parquet file (60-900). Default: 300."""
    buffer_mib: int = 128
    """MiB Firehose buffers per partition before it writes (64-128 with Parquet). Default: 128."""

    def problems(self) -> list[Problem]:
        return bounds_problems(self, {"buffer_seconds": (60, 900), "buffer_mib": (64, 128)})


class PredictionCapture(PlatformComponent):
    """The Firehose stream, its role, the Glue database and envelope table, and an Athena workgroup."""

    ref: CaptureRef
    """The Glue database and the stream's name, for the models' monitors and Fluent Bit."""
    stream_arn: pulumi.Output[str]
    """ARN of the Firehose stream."""

    def __init__(
        self,
        name: str,
        spec: PredictionCaptureSpec,
        context: StackContext,
        *,
        artifacts: ArtifactsRef,
        opts: pulumi.ResourceOptions | None = None,
    ):
        problems = [*spec.problems(), *context.problems()]
        super().__init__("mlops:monitoring:PredictionCapture", name, "PredictionCaptureSpec", problems, opts)
        child, tags = self.child, dict(context.tags)
        account_id, region = self.account_id, self.region
        database = aws.glue.CatalogDatabase(
            f"{name}-database",
            name=database_name(context),
            description=f"Captured predictions of {context.name_prefix} (docs/monitoring.md)",
            tags=tags,
            opts=child,
        )
        location = pulumi.Output.concat("s3://", artifacts.bucket_name, "/", PREFIX)
        envelope = aws.glue.CatalogTable(
            f"{name}-envelope",
            name=ENVELOPE_TABLE,
            database_name=database.name,
            table_type="EXTERNAL_TABLE",
            description="The capture record contract: the schema Firehose converts to Parquet with",
            parameters={"classification": "parquet", "EXTERNAL": "TRUE"},
            storage_descriptor=parquet_storage(location, COLUMNS),
            opts=child,
        )
        glue = f"arn:aws:glue:{region}:{account_id}"
        tables = [f"{glue}:catalog", f"{glue}:database/{database_name(context)}"]
        tables.append(f"{glue}:table/{database_name(context)}/{ENVELOPE_TABLE}")
        schema = iam.statement(
            "ReadCaptureSchema", ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"], tables
        )
        # Writes under captures/ (and its error prefix) only; reads the envelope's schema.
        role = service_role(
            self,
            f"{name}-firehose",
            "firehose.amazonaws.com",
            policy=pulumi.Output.all(artifacts.bucket_arn, artifacts.kms_key_arn).apply(
                lambda a: iam.document(
                    [*iam.s3_prefixes_statements(a[0], a[1], read=[], write=[PREFIX, ERROR_PREFIX]), schema]
                )
            ),
            tags=tags,
        )
        partitions = "/".join(f"{key}=!{{partitionKeyFromQuery:{key}}}" for key in PARTITIONS)
        stream = aws.kinesis.FirehoseDeliveryStream(
            f"{name}-stream",
            name=stream_name(context),
            destination="extended_s3",
            # Records wait in the stream encrypted with the store's key, as they rest in it.
            server_side_encryption={
                "enabled": True,
                "key_type": "CUSTOMER_MANAGED_CMK",
                "key_arn": artifacts.kms_key_arn,
            },
            extended_s3_configuration={
                "role_arn": role.arn,
                "bucket_arn": artifacts.bucket_arn,
                "kms_key_arn": artifacts.kms_key_arn,
                "prefix": f"{PREFIX}{partitions}/",
                "error_output_prefix": f"{ERROR_PREFIX}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/",
                "buffering_interval": spec.buffer_seconds,
                "buffering_size": spec.buffer_mib,
                "dynamic_partitioning_configuration": {"enabled": True, "retry_duration": 300},
                "processing_configuration": {
                    "enabled": True,
                    "processors": [
                        {
                            "type": "MetadataExtraction",
                            "parameters": [
                                {
                                    "parameter_name": "MetadataExtractionQuery",
                                    "parameter_value": PARTITION_QUERY,
                                },
                                {"parameter_name": "JsonParsingEngine", "parameter_value": "JQ-1.6"},
                            ],
                        }
                    ],
                },
                "data_format_conversion_configuration": {
                    "enabled": True,
                    "input_format_configuration": {"deserializer": {"open_x_json_ser_de": {}}},
                    "output_format_configuration": {
                        "serializer": {"parquet_ser_de": {"compression": "SNAPPY"}}
                    },
                    "schema_configuration": {
                        "database_name": database.name,
                        "table_name": envelope.name,
                        "role_arn": role.arn,
                        "region": region,
                    },
                },
            },
            tags=tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[envelope])),
        )
        aws.athena.Workgroup(
            f"{name}-queries",
            name=f"{context.name_prefix}-captures",
            description="Queries over captured predictions; results encrypted beside them",
            configuration={
                "enforce_workgroup_configuration": True,
                "result_configuration": {
                    "output_location": pulumi.Output.concat(
                        "s3://", artifacts.bucket_name, "/", QUERY_RESULTS_PREFIX
                    ),
                    "encryption_configuration": {
                        "encryption_option": "SSE_KMS",
                        "kms_key_arn": artifacts.kms_key_arn,
                    },
                },
            },
            force_destroy=False,
            tags=tags,
            opts=child,
        )
        self.stream_arn = stream.arn
        self.ref = CaptureRef(database_name(context), stream_name(context))
        self.register_outputs({"streamArn": stream.arn, "databaseName": database.name})


def parquet_storage(location: pulumi.Input[str], columns: tuple[tuple[str, str], ...]) -> dict[str, object]:
    """A Glue storage descriptor of Parquet files at ``location``."""
    return {
        "location": location,
        "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "ser_de_info": {
            "serialization_library": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            "parameters": {"serialization.format": "1"},
        },
        "columns": [{"name": column, "type": kind} for column, kind in columns],
    }
