package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// s3:// is served by this driver over the AWS SDK's S3 client, called
// directly (PutObject with If-None-Match or If-Match, GetObject, HeadObject,
// DeleteObject). All of keyctl's S3 code is in this file, behind the
// driver interface, so that a smaller client can replace the SDK here
// alone.

type s3Driver struct {
	client   *s3.Client
	bucket   string
	sse      s3types.ServerSideEncryption // ?ssetype=
	kmsKeyID string                       // ?kmskeyid=
}

// openS3 opens an s3:// bucket with the query parameters gocloud.dev's
// s3blob accepted, and with the SDK's own retries turned off: one retry
// policy, in one place, ours (see retry.go), as for gs://. Nothing is sent
// before the first operation.
func openS3(ctx context.Context, loc location) (*s3Driver, error) {
	u, err := url.Parse(loc.url)
	if err != nil {
		return nil, err
	}
	d := &s3Driver{bucket: u.Host}
	var (
		s3opts            []func(*s3.Options)
		cfgOpts           []func(*config.LoadOptions) error
		endpoint, roleARN string
		hostnameImmutable bool
	)
	for key, values := range u.Query() {
		v := values[0]
		boolValue := func() (bool, error) {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return false, fmt.Errorf("invalid value for %q: %w", key, err)
			}
			return b, nil
		}
		var b bool
		switch key {
		case "accelerate", "disable_https", "use_path_style", "s3ForcePathStyle", "ssetype", "kmskeyid":
			if v == "" {
				continue // s3blob's own parameters: empty means unset
			}
		}
		switch key {
		case "accelerate", "disable_https", "use_path_style", "s3ForcePathStyle",
			"hostname_immutable", "dualstack", "fips", "anonymous":
			if b, err = boolValue(); err != nil {
				return nil, err
			}
		}
		switch key {
		case "region":
			cfgOpts = append(cfgOpts, config.WithRegion(v))
		case "endpoint":
			endpoint = v
		case "profile":
			cfgOpts = append(cfgOpts, config.WithSharedConfigProfile(v))
		case "role":
			if !strings.HasPrefix(v, "arn:") {
				return nil, fmt.Errorf("invalid value for \"role\": %q is not an ARN (arn:...)", v)
			}
			roleARN = v
		case "ssetype":
			d.sse = s3types.ServerSideEncryption(v)
		case "kmskeyid":
			d.kmsKeyID = v
		case "accelerate":
			s3opts = append(s3opts, func(o *s3.Options) { o.UseAccelerate = b })
		case "disable_https":
			s3opts = append(s3opts, func(o *s3.Options) { o.EndpointOptions.DisableHTTPS = b })
		case "use_path_style", "s3ForcePathStyle":
			s3opts = append(s3opts, func(o *s3.Options) { o.UsePathStyle = b })
		case "hostname_immutable":
			hostnameImmutable = b
		case "dualstack":
			if b {
				cfgOpts = append(cfgOpts, config.WithUseDualStackEndpoint(aws.DualStackEndpointStateEnabled))
			}
		case "fips":
			if b {
				cfgOpts = append(cfgOpts, config.WithUseFIPSEndpoint(aws.FIPSEndpointStateEnabled))
			}
		case "anonymous":
			if b {
				cfgOpts = append(cfgOpts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
			}
		case "request_checksum_calculation":
			switch strings.ToLower(v) {
			case "when_supported":
				cfgOpts = append(cfgOpts, config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenSupported))
			case "when_required":
				cfgOpts = append(cfgOpts, config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired))
			default:
				return nil, fmt.Errorf("invalid value for %q: %q (when_supported or when_required)", key, v)
			}
		case "response_checksum_validation":
			switch strings.ToLower(v) {
			case "when_supported":
				cfgOpts = append(cfgOpts, config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenSupported))
			case "when_required":
				cfgOpts = append(cfgOpts, config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
			default:
				return nil, fmt.Errorf("invalid value for %q: %q (when_supported or when_required)", key, v)
			}
		case "rate_limiter_capacity":
			// Accepted as before; it sized the SDK retryer's token bucket,
			// and the SDK does not retry here (retry.go does).
			if _, err := strconv.ParseInt(v, 10, 32); err != nil {
				return nil, fmt.Errorf("invalid value for %q: %w", key, err)
			}
		case "awssdk":
			// gocloud.dev's choice of SDK version; there is only v2.
		default:
			return nil, fmt.Errorf("unknown query parameter %q", key)
		}
	}
	if roleARN != "" {
		base, err := config.LoadDefaultConfig(ctx, cfgOpts...)
		if err != nil {
			return nil, err
		}
		if base.Region == "" {
			return nil, errors.New("?role= needs a region (?region= or AWS_REGION)")
		}
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), roleARN)
		cfgOpts = []func(*config.LoadOptions) error{config.WithCredentialsProvider(provider), config.WithRegion(base.Region)}
	}
	cfgOpts = append(cfgOpts, config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	cfg, err := config.LoadDefaultConfig(ctx, cfgOpts...)
	if err != nil {
		return nil, err
	}
	if endpoint != "" {
		// As gocloud.dev set it, so that endpoints keep working as they
		// did: the URL as given, signed for the configured region. (The
		// resolver is deprecated in favour of BaseEndpoint, which applies
		// the S3 endpoint rules to the URL.)
		//lint:ignore SA1019 see above
		cfg.EndpointResolverWithOptions = aws.EndpointResolverWithOptionsFunc(
			func(service, region string, options ...any) (aws.Endpoint, error) {
				return aws.Endpoint{PartitionID: "aws", URL: endpoint, SigningRegion: region, HostnameImmutable: hostnameImmutable}, nil
			})
	}
	d.client = s3.NewFromConfig(cfg, s3opts...)
	return d, nil
}

// s3Error gives an SDK error its meaning; connection failures stay as they
// are, for retry.go to judge.
func s3Error(err error) error {
	if err == nil {
		return nil
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	apiCode := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		apiCode = ae.ErrorCode()
	}
	if status == 0 && apiCode == "" {
		return err
	}
	c := statusCode(status)
	switch apiCode {
	case "NoSuchBucket", "NoSuchKey", "NotFound":
		c = codeNotFound
	case "PreconditionFailed":
		c = codePreconditionFailed
	case "AccessDenied", "Forbidden":
		c = codePermissionDenied
	case "NotImplemented":
		c = codeUnimplemented
	}
	return &storageError{Code: c, Status: status, Err: err}
}

func (d *s3Driver) Read(ctx context.Context, key string, limit int64) ([]byte, version, error) {
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &d.bucket, Key: &key})
	if err != nil {
		return nil, version{}, s3Error(err)
	}
	defer out.Body.Close()
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	data, err := readLimited(out.Body, size, limit)
	if err != nil {
		return nil, version{}, err
	}
	return data, version{etag: aws.ToString(out.ETag)}, nil
}

func (d *s3Driver) Attributes(ctx context.Context, key string) (attributes, error) {
	out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.bucket, Key: &key})
	if err != nil {
		return attributes{}, s3Error(err)
	}
	return attributes{
		Size:         aws.ToInt64(out.ContentLength),
		ContentType:  aws.ToString(out.ContentType),
		CacheControl: aws.ToString(out.CacheControl),
		Version:      version{etag: aws.ToString(out.ETag)},
	}, nil
}

// Write is one PutObject. S3's conditional writes: If-None-Match: * for
// create-only, If-Match with the ETag read before for the pointer.
func (d *s3Driver) Write(ctx context.Context, key string, data []byte, o writeOptions) (version, error) {
	in := &s3.PutObjectInput{
		Bucket:        &d.bucket,
		Key:           &key,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(o.ContentType),
	}
	if o.CacheControl != "" {
		in.CacheControl = aws.String(o.CacheControl)
	}
	if d.sse != "" {
		in.ServerSideEncryption = d.sse
	}
	if d.kmsKeyID != "" {
		in.SSEKMSKeyId = aws.String(d.kmsKeyID)
	}
	switch o.Cond {
	case condIfNotExist:
		in.IfNoneMatch = aws.String("*")
	case condIfMatch:
		if o.Version.etag == "" {
			return version{}, errors.New("internal error: conditional S3 write without an ETag")
		}
		in.IfMatch = aws.String(o.Version.etag)
	}
	out, err := d.client.PutObject(ctx, in)
	if err != nil {
		return version{}, s3Error(err)
	}
	return version{etag: aws.ToString(out.ETag)}, nil
}

func (d *s3Driver) Delete(ctx context.Context, key string) error {
	_, err := d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.bucket, Key: &key})
	return s3Error(err)
}

func (d *s3Driver) Close() error { return nil }
