"""kiln.aws.validate: the model's constraints, reported in AWS's wording."""

from __future__ import annotations

from typing import Any

from kiln.aws import validate
from kiln.aws.specs import operation_model


def _violations(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    return validate.collect(operation_model(service, operation).input_shape, params)


def _training_job(**overrides: Any) -> dict[str, Any]:
    request = {
        "TrainingJobName": "job-1",
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/Kiln",
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(overrides)
    return request


def test_a_valid_request_has_no_violations() -> None:
    assert _violations("sagemaker", "CreateTrainingJob", _training_job()) == []


def test_pattern_message_matches_aws() -> None:
    found = _violations("sagemaker", "CreateTrainingJob", _training_job(TrainingJobName="bad_name!"))
    assert found == ["Value 'bad_name!' at 'trainingJobName' failed to satisfy constraint: Member must satisfy "
                     "regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"]
    assert validate.message(found).startswith("1 validation error detected: Value 'bad_name!' at 'trainingJobName'")


def test_required_members_are_reported_null_with_nested_paths() -> None:
    request = _training_job()
    del request["RoleArn"]
    request["ResourceConfig"] = {"VolumeSizeInGB": 10}
    found = _violations("sagemaker", "CreateTrainingJob", request)
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in found


def test_length_limits() -> None:
    long_name = "a" * 64
    found = _violations("sagemaker", "CreateTrainingJob", _training_job(TrainingJobName=long_name))
    assert f"Value '{long_name}' at 'trainingJobName' failed to satisfy constraint: Member must have length " \
           "less than or equal to 63" in found
    found = _violations("sagemaker", "DescribeTrainingJob", {"TrainingJobName": ""})
    assert "Value '' at 'trainingJobName' failed to satisfy constraint: Member must have length greater than " \
           "or equal to 1" in found


def test_numeric_ranges() -> None:
    found = _violations("sagemaker", "CreateTrainingJob",
                        _training_job(StoppingCondition={"MaxRuntimeInSeconds": 0}))
    assert found == ["Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member "
                     "must have value greater than or equal to 1"]
    found = _violations("sagemaker", "ListTrainingJobs", {"MaxResults": 101})
    assert found == ["Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than "
                     "or equal to 100"]


def test_enum_message_lists_the_allowed_values() -> None:
    spec = {"TrainingImage": "img", "TrainingInputMode": "Streaming"}
    found = _violations("sagemaker", "CreateTrainingJob", _training_job(AlgorithmSpecification=spec))
    assert len(found) == 1
    assert found[0].startswith("Value 'Streaming' at 'algorithmSpecification.trainingInputMode' failed to satisfy "
                               "constraint: Member must satisfy enum value set: [")
    assert "File" in found[0] and "Pipe" in found[0] and "FastFile" in found[0]


def test_list_of_structures_uses_member_paths() -> None:
    tags = [{"Key": "ok", "Value": "v"}, {"Key": "", "Value": "v"}]
    found = _violations("sagemaker", "CreateTrainingJob", _training_job(Tags=tags))
    assert any(v.startswith("Value '' at 'tags.2.member.key' failed to satisfy constraint: Member must have length "
                            "greater than or equal to 1") for v in found), found


def test_scalar_list_items_are_reported_for_the_collection() -> None:
    vpc = {"SecurityGroupIds": ["sg-1", "x" * 40], "Subnets": ["subnet-1"]}
    found = _violations("sagemaker", "CreateTrainingJob", _training_job(VpcConfig=vpc))
    assert len(found) == 1
    assert found[0].startswith(f"Value '[sg-1, {'x' * 40}]' at 'vpcConfig.securityGroupIds' failed to satisfy "
                               "constraint: Member must satisfy constraint: [Member must have length less than or "
                               "equal to 32")


def test_map_keys_and_values() -> None:
    found = _violations("sagemaker", "CreateTrainingJob", _training_job(HyperParameters={"k" * 300: "v"}))
    assert len(found) == 1
    assert found[0].startswith(f"Value '{{{'k' * 300}=v}}' at 'hyperParameters' failed to satisfy constraint: Map "
                               "keys must satisfy constraint: [Member must have length less than or equal to 256")


def test_collection_length() -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    found = _violations("sagemaker", "CreateTrainingJob", _training_job(Tags=tags))
    assert len(found) == 1
    assert "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50" in found[0]


def test_several_violations_are_counted_and_joined() -> None:
    found = _violations("sagemaker", "CreateTrainingJob", _training_job(TrainingJobName="_", RoleArn="x"))
    text = validate.message(found)
    assert text.startswith(f"{len(found)} validation errors detected: ")
    assert len(found) >= 3  # name pattern, role length, role pattern
    assert "; " in text


def test_java_only_patterns_are_skipped_not_rejected() -> None:
    from botocore.model import Shape

    shape = Shape("S", {"type": "string", "pattern": r"^\p{XDigit}+$"})
    assert validate.collect(shape, "zz") == []


def test_documents_are_not_walked() -> None:
    from botocore.model import StructureShape

    shape = StructureShape("Doc", {"type": "structure", "members": {}, "document": True})
    assert validate.collect(shape, {"anything": [1, 2]}) == []


def test_show_prints_like_java() -> None:
    assert validate.show([1, "a"]) == "[1, a]"
    assert validate.show({"k": True}) == "{k=true}"
    assert validate.show(b"abc").startswith("java.nio.HeapByteBuffer[")
