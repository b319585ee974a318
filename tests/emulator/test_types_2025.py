"""The 2025 feed and account types: a typical 2025 space can be seeded and written over REST,
with the fields the clients give each type (go-octopusdeploy, Octopus.Client), and secrets
kept hidden as for the older types."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.emulator.test_http import HIDDEN, assert_400, sample_certificate
from tests.helpers import Emulator

SECRET = {"HasValue": True, "NewValue": "s3cr3t"}
FEEDS: dict[str, dict[str, Any]] = {
    "OciRegistry": {"FeedUri": "oci://registry.example", "Username": "u", "Password": SECRET},
    "S3": {"AccessKey": "AKIA", "SecretKey": SECRET, "UseMachineCredentials": False},
    "AzureContainerRegistry": {
        "FeedUri": "https://acr.example.azurecr.io",
        "Username": "u",
        "Password": SECRET,
        "RegistryPath": "",
        "OidcAuthentication": None,
    },
    "GoogleContainerRegistry": {"FeedUri": "https://gcr.io", "RegistryPath": "proj"},
    "ArtifactoryGeneric": {
        "FeedUri": "https://artifactory.example",
        "Repository": "generic-local",
        "LayoutRegex": "(?<orgPath>.+?)/(?<module>[^/]+)",
    },
    "Npm": {"FeedUri": "https://registry.npmjs.org", "DownloadAttempts": 3},
    "GcsStorage": {"UseServiceAccountKey": True, "ServiceAccountJsonKey": SECRET, "Project": "p"},
    "PyPi": {"FeedUri": "https://pypi.org/simple"},
}
ACCOUNTS: dict[str, dict[str, Any]] = {
    "AzureOidc": {
        "SubscriptionNumber": "00000000-0000-0000-0000-000000000001",
        "ClientId": "00000000-0000-0000-0000-000000000002",
        "TenantId": "00000000-0000-0000-0000-000000000003",
        "Audience": "api://AzureADTokenExchange",
        "DeploymentSubjectKeys": ["space", "project"],
    },
    "AmazonWebServicesOidcAccount": {
        "RoleArn": "arn:aws:iam::123456789012:role/deploy",
        "SessionDuration": "3600",
        "DeploymentSubjectKeys": ["space"],
    },
    "AzureSubscription": {
        "SubscriptionNumber": "00000000-0000-0000-0000-000000000004",
        "CertificateThumbprint": "",
        "AzureEnvironment": "AzureCloud",
    },
    "GenericOidcAccount": {"Audience": "octopus", "DeploymentSubjectKeys": ["space"]},
    "GoogleCloudOidcAccount": {"Audience": "//iam.googleapis.com/x", "CustomClaims": {}},
}


@pytest.mark.parametrize("feed_type", sorted(FEEDS))
def test_2025_feed_types_are_accepted_with_their_fields(emulator: Emulator, feed_type: str) -> None:
    created = emulator.create(
        "feeds", {"Name": f"{feed_type} feed", "FeedType": feed_type, **FEEDS[feed_type]}
    )
    read = emulator.get(f"feeds/{created['Id']}")
    assert read["FeedType"] == feed_type
    for field, value in FEEDS[feed_type].items():
        assert read[field] == (HIDDEN | {"HasValue": True} if value == SECRET else value)
    # A round trip of the whole document is accepted, as real clients PUT back what they GET.
    assert emulator.put(f"feeds/{created['Id']}", read).status_code == 200


@pytest.mark.parametrize("account_type", sorted(ACCOUNTS))
def test_2025_account_types_are_accepted_with_their_fields(
    emulator: Emulator, account_type: str
) -> None:
    body = {"Name": f"{account_type} account", "AccountType": account_type}
    created = emulator.create("accounts", {**body, **ACCOUNTS[account_type]})
    read = emulator.get(f"accounts/{created['Id']}")
    for field, value in ACCOUNTS[account_type].items():
        assert read[field] == value
    assert emulator.put(f"accounts/{created['Id']}", read).status_code == 200


def test_a_field_of_another_type_is_still_refused(emulator: Emulator) -> None:
    # A field the type does not have (RoleArn belongs to AWS OIDC accounts). Stricter than a
    # real server is known to be: see the note at the top of emulator/schema.py.
    body = {"Name": "Oidc", "AccountType": "AzureOidc", "RoleArn": "arn:aws:iam::1:role/x"}
    assert_400(emulator.post("accounts", body), "'RoleArn' is not a known property")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


KEY_FILE = _b64(
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.mark.parametrize("placeholder", ["CHANGE_ME", _b64("CHANGE_ME"), "not base64 !"])
def test_an_ssh_key_pair_needs_a_private_key_file_the_server_can_read(
    emulator: Emulator, placeholder: str
) -> None:
    # tfl#343: "private_key_file needs to be the Base64-encoded private key".
    body = {"Name": "Deploy SSH", "AccountType": "SshKeyPair", "Username": "deploy"}
    refused = emulator.post(
        "accounts", {**body, "PrivateKeyFile": {**SECRET, "NewValue": placeholder}}
    )
    assert_400(refused, "The private key file of account 'Deploy SSH' could not be read")
    created = emulator.create(
        "accounts", {**body, "PrivateKeyFile": {**SECRET, "NewValue": KEY_FILE}}
    )
    # Kept as it is on a round trip (the stored key is not sent back).
    read = emulator.get(f"accounts/{created['Id']}")
    assert emulator.put(f"accounts/{created['Id']}", read).status_code == 200


def test_an_azure_subscription_needs_a_certificate_the_server_can_read(emulator: Emulator) -> None:
    body = {"Name": "Classic", "AccountType": "AzureSubscription", "SubscriptionNumber": "1"}
    refused = emulator.post(
        "accounts", {**body, "CertificateBytes": {**SECRET, "NewValue": "CHANGE_ME"}}
    )
    assert_400(refused, "CertificateBytes: Could not parse certificate data")
    certificate = sample_certificate("source")
    assert emulator.create(
        "accounts", {**body, "CertificateBytes": {**SECRET, "NewValue": certificate}}
    )
