# Asynchronous inference: the estimator trained by src/train.py, deployed with an AsyncInferenceConfig
# (output and failure paths in S3, SNS notifications, two invocations at a time per instance). Requests
# are queued durably and answered in the background: predict_async returns at once, the result shows
# up in S3 with the model's content type, and the success topic's subscriber is told.
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import sagemaker
from sagemaker.async_inference import AsyncInferenceConfig, WaiterConfig
from sagemaker.pytorch import PyTorch

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
sess.upload_data("data/train.csv", bucket, "data/train")
estimator = PyTorch(entry_point="train.py", source_dir="./src", role=role, instance_type="ml.m5.large",
                    instance_count=1, framework_version="2.1", py_version="py310", hyperparameters={"epochs": 10})
estimator.fit({"train": f"s3://{bucket}/data/train/"}, logs=False)

# An SNS topic with an http subscriber (this script) for the success and error notifications.
notes = []


class Inbox(BaseHTTPRequestHandler):
    def do_POST(self):
        notes.append(json.loads(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["Message"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


inbox = ThreadingHTTPServer(("127.0.0.1", 0), Inbox)
threading.Thread(target=inbox.serve_forever, daemon=True).start()
sns = boto3.client("sns")
topic = sns.create_topic(Name="async-demo-results")["TopicArn"]
sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{inbox.server_address[1]}/")

predictor = estimator.deploy(
    initial_instance_count=1,
    instance_type="ml.m5.xlarge",
    endpoint_name="my-async-endpoint",
    async_inference_config=AsyncInferenceConfig(
        output_path=f"s3://{bucket}/async/output",
        failure_path=f"s3://{bucket}/async/failures",
        max_concurrent_invocations_per_instance=2,
        notification_config={"SuccessTopic": topic, "ErrorTopic": topic},
    ),
    serializer=sagemaker.serializers.JSONSerializer(),
    deserializer=sagemaker.deserializers.JSONDeserializer(),
)

t0 = time.perf_counter()
response = predictor.predict_async(data={"inputs": [[1.2, 3.4, 5.6, 7.8]]})
print(f"predict_async returned in {(time.perf_counter() - t0) * 1000:.0f} ms -> {response.output_path}")
print("result:", response.get_result(WaiterConfig(max_attempts=60, delay=1)))

# The boto3 way: ten queued requests, answered two at a time by the one instance.
s3, rt = boto3.client("s3"), boto3.client("sagemaker-runtime")
outputs = []
for i in range(10):
    key = f"async/input/{i}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"inputs": [[i, 1.0, 2.0, 3.0]]}),
                  ContentType="application/json")
    answer = rt.invoke_endpoint_async(EndpointName="my-async-endpoint", InputLocation=f"s3://{bucket}/{key}",
                                      InferenceId=f"demo-{i}")
    outputs.append(answer["OutputLocation"])
for uri in outputs:
    out_bucket, out_key = uri[len("s3://"):].split("/", 1)
    s3.get_waiter("object_exists").wait(Bucket=out_bucket, Key=out_key, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
obj = s3.get_object(Bucket=out_bucket, Key=out_key)
print(f"{len(outputs)} outputs written; the last: {obj['ContentType']} {obj['Body'].read().decode()}")

deadline = time.time() + 30
while len(notes) < 11 and time.time() < deadline:
    time.sleep(0.2)
print(f"{len(notes)} notifications, e.g. {json.dumps(notes[-1])[:160]}...")
# The queue's depth is in CloudWatch as ApproximateBacklogSize (AWS/SageMaker, EndpointName), the
# metric Application Auto Scaling uses to take an async endpoint to zero instances and back.
predictor.delete_endpoint()
