// Package s3 is a small Amazon S3 client over net/http: Get, Head, Put
// (with If-None-Match: * or If-Match) and Delete of one bucket's objects,
// AWS Signature Version 4, and the usual AWS credential chain. It links
// no AWS SDK: the SDK's package initialisation (endpoint tables, smithy
// middleware) was a measurable part of every keyctl command's start-up
// (docs/performance.md).
//
// # Requests
//
// Get, Stat (and Head), Put and Delete are each one HTTP request through the
// caller's *http.Client; there are
// no retries here (the caller has one retry policy for every backend).
// Every request is signed with the payload's SHA-256 in
// x-amz-content-sha256 (never UNSIGNED-PAYLOAD: some S3-compatible services
// refuse conditional writes without it), and a Put also carries
// Content-MD5. Anonymous credentials send unsigned requests. HTTPClient
// adds Config.CABundle (AWS_CA_BUNDLE) to a client's trusted CAs.
//
// ConfigFromURL reads an s3:// URL with the query parameters keyctl has
// always accepted and the AWS environment variables and shared files the
// AWS SDKs read for S3 (endpoint, region, CA bundle, FIPS, dual-stack).
//
// Objects are addressed virtual-hosted (https://BUCKET.s3.REGION.amazonaws.com/KEY)
// unless Config.PathStyle, an Endpoint with PathStyle, or a bucket name
// with dots over https (the wildcard certificate would not match) asks
// for path style (https://s3.REGION.amazonaws.com/BUCKET/KEY).
//
// # Errors
//
// A non-2xx answer is an *Error: the status, and the Code, Message and
// RequestId of the XML error document (read up to 64 KiB, nothing else of
// it kept). IsNotFound, IsPreconditionFailed (412, and 409
// ConditionalRequestConflict), IsNotImplemented (501), IsTransient (5xx but
// 501, 429, SlowDown; Error.RetryAfter holds Retry-After) and IsAccessDenied
// classify it.
//
// # Credentials
//
// DefaultChain looks, in this order, and uses the first source that has
// credentials (cached until five minutes before they expire):
//
//  1. the profile named by ?profile=, when given (as the AWS SDKs do);
//  2. the environment: AWS_ACCESS_KEY_ID (or AWS_ACCESS_KEY),
//     AWS_SECRET_ACCESS_KEY (or AWS_SECRET_KEY), AWS_SESSION_TOKEN;
//  3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (and
//     AWS_ROLE_SESSION_NAME), exchanged at STS AssumeRoleWithWebIdentity of
//     the bucket's region (AWS_ENDPOINT_URL_STS overrides the endpoint);
//  4. the profile AWS_PROFILE or "default" in the shared files
//     (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials; AWS_CONFIG_FILE,
//     default ~/.aws/config, where sections are "[profile NAME]"): static
//     keys, web_identity_token_file with role_arn, or credential_process
//     (run by the shell; it prints {"Version": 1, "AccessKeyId", ...}).
//     `aws configure export-credentials --profile P --format process` as a
//     credential_process covers IAM Identity Center (SSO) and assume-role
//     profiles, which are not resolved here;
//  5. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
//     AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to loopback or the
//     ECS / EKS Pod Identity agent), with AWS_CONTAINER_AUTHORIZATION_TOKEN or
//     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
//  6. the EC2 instance metadata service, IMDSv2 only (3 s at most; off with
//     AWS_EC2_METADATA_DISABLED=true).
//
// Finding none is a *NoCredentialsError that lists where the chain looked.
// No error, and no formatting of Credentials, ever shows a secret key, a
// session token, an authorization token or a credential_process command.
package s3
