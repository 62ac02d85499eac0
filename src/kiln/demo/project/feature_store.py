# The seed's Feature Store example with the SageMaker SDK v2, unmodified apart from its data (event
# times inside the window its Athena query asks for) and two SDK v2 / pandas 3 details: create() has
# no `enable_offline_store` argument (the offline store is on because s3_uri is given), and pandas 3
# needs dtype "string" where the seed writes "str". Then a point-in-time training set.
import json
import time

import boto3
import pandas as pd
import sagemaker
from sagemaker.feature_store.feature_definition import FeatureDefinition, FeatureTypeEnum  # noqa: F401
from sagemaker.feature_store.feature_group import FeatureGroup
from sagemaker.feature_store.feature_store import FeatureStore

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
sm_client = boto3.client("sagemaker")
fs_runtime = boto3.client("sagemaker-featurestore-runtime")

# --- Create a Feature Group ---
feature_group = FeatureGroup(
    name="customer-purchase-features",
    sagemaker_session=sess,
)
feature_group.load_feature_definitions(data_frame=pd.DataFrame({
    "customer_id": pd.Series(dtype="string"),
    "total_spend_30d": pd.Series(dtype="float64"),
    "num_orders_30d": pd.Series(dtype="int64"),
    "avg_order_value": pd.Series(dtype="float64"),
    "days_since_last_order": pd.Series(dtype="int64"),
    "event_time": pd.Series(dtype="string"),  # ISO-8601 timestamp — required
}))
feature_group.create(
    s3_uri=f"s3://{bucket}/feature-store/",
    record_identifier_name="customer_id",
    event_time_feature_name="event_time",
    role_arn=role,
    enable_online_store=True,
)
# Wait for the Feature Group to become active
while feature_group.describe()["FeatureGroupStatus"] != "Created":
    time.sleep(5)
print("Feature Group is active")

# --- Ingest features ---
records = pd.DataFrame([
    {"customer_id": "C001", "total_spend_30d": 420.50, "num_orders_30d": 5,
     "avg_order_value": 84.10, "days_since_last_order": 3,
     "event_time": "2026-03-06T10:00:00Z"},
    {"customer_id": "C002", "total_spend_30d": 112.00, "num_orders_30d": 2,
     "avg_order_value": 56.00, "days_since_last_order": 14,
     "event_time": "2026-03-06T10:00:00Z"},
])
feature_group.ingest(data_frame=records, max_workers=4, wait=True)

# --- Online retrieval at inference time ---
response = fs_runtime.get_record(
    FeatureGroupName="customer-purchase-features",
    RecordIdentifierValueAsString="C001",
    FeatureNames=["total_spend_30d", "num_orders_30d", "avg_order_value"],
)
features = {f["FeatureName"]: f["ValueAsString"] for f in response["Record"]}
print(features)
# {'total_spend_30d': '420.5', 'num_orders_30d': '5', 'avg_order_value': '84.1'}

# --- Offline: generate training dataset with Athena ---
feature_group.athena_query().run(
    query_string="""
    SELECT customer_id, total_spend_30d, num_orders_30d, avg_order_value,
    days_since_last_order
    FROM "customer-purchase-features"
    WHERE event_time BETWEEN '2026-01-01' AND '2026-06-01'
    """,
    output_location=f"s3://{bucket}/athena-results/",
)

# --- beyond the seed: wait for a query and read its rows, as the SDK's docs show ---
query = feature_group.athena_query()
table = query.table_name
query.run(query_string=f'SELECT * FROM "{table}" ORDER BY customer_id',
          output_location=f"s3://{bucket}/athena-results/")
query.wait()
df = query.as_dataframe()
print("ROWS", df.to_json(orient="records"))
print("STATE", json.dumps(query.get_query_execution()["QueryExecution"]["Status"]["State"]))

# --- a point-in-time training set: each label row gets the features as they were at its time ---
# a later value for C001
feature_group.ingest(data_frame=pd.DataFrame([
    {"customer_id": "C001", "total_spend_30d": 510.0, "num_orders_30d": 7, "avg_order_value": 72.9,
     "days_since_last_order": 1, "event_time": "2026-04-20T10:00:00Z"}]), max_workers=1, wait=True)
labels = pd.DataFrame({"customer_id": ["C001", "C001", "C002"], "churned": [0, 1, 0],
                       "event_time": ["2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z",
                                      "2026-03-01T00:00:00Z"]}).astype(object)
dataset, _ = (FeatureStore(sagemaker_session=sess)
              .create_dataset(base=labels, output_path=f"s3://{bucket}/datasets",
                              record_identifier_feature_name="customer_id",
                              event_time_identifier_feature_name="event_time")
              .with_feature_group(feature_group, "customer_id",
                                  included_feature_names=["total_spend_30d", "num_orders_30d"])
              .point_in_time_accurate_join()
              .to_dataframe())
dataset = dataset.sort_values(["customer_id", "event_time", "total_spend_30d.1"])
print("TRAINING SET", dataset.to_json(orient="records"))
