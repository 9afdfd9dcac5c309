// Package publish moves a published set of objects into a bucket or
// directory, and reads them back (docs/manifest.md, docs/reliability.md). It
// knows nothing about OpenPGP or the manifest: it moves bytes, in an order
// and with preconditions that never let a client see a half-published
// state, and with retries that ride out a flaky bucket.
//
// # Locations
//
// Open accepts a directory path, file:///abs/dir, gs://bucket/prefix,
// s3://bucket/prefix?region=R, mem:// and, for reading only,
// http(s)://host/path. See Open.
//
// Each kind of bucket is a driver (driver.go) with five operations: read
// (with a size limit), attributes, write (whole or not at all, with no
// precondition, "must not exist", or "must be at this version"), delete
// and close; its errors carry one of a few meanings (not found,
// precondition failed, permission denied, transient, unimplemented) that
// Publish and the retry policy act on. The drivers:
//
//   - directories (dir.go): plain files, no sidecars; a write goes to a
//     temporary file next to its final path and is renamed into place; a
//     create-only write is a hard link, which fails if the path exists.
//   - gs:// (gcs.go): the Cloud Storage JSON API over net/http, the
//     generation as version; credentials from golang.org/x/oauth2/google.
//   - s3:// (s3.go): keyctl's own S3 client (internal/s3: SigV4 over
//     net/http, the AWS credential chain), the ETag as version.
//   - mem:// (mem.go): process memory, for tests.
//
// They replace gocloud.dev/blob, whose package initialisation (gRPC,
// protobuf, OpenTelemetry) every keyctl command paid for
// (docs/performance.md, Start-up).
//
// # Publish order
//
// A Plan names four groups of objects. Publish handles them in this order:
//
//  0. Backends without conditional overwrites (directories, file://,
//     mem://, and an S3-compatible service that answers If-Match with 501
//     Not Implemented) take a lock next to the pointer, "POINTER.lock": a
//     file
//     created with O_EXCL for directories, an object written with
//     IfNotExist otherwise. It holds a random token, is held through step
//     4 and removed at the end, also on failure, but only if it still
//     holds this publish's token (read, compare, delete): a publish whose
//     lock was removed by hand leaves the next publish's lock alone. A
//     lock left by a killed publish makes the next one fail with a
//     *LockedError that names it and its age; removing it by hand is the
//     fix. GCS and S3 need no lock: step 3 carries a precondition instead.
//     On s3:// the lock is only the fallback: when the service answers
//     the conditional pointer write 501, Publish takes the lock (which,
//     like the blobs, still needs If-None-Match: *), reads the
//     pointer again (a change since step 1 is a *ConflictError) and writes
//     it under the lock; later publishes through the same Bucket lock
//     from the start.
//  1. Read the pointer's current content (and its version: the GCS
//     generation, the S3 ETag). If
//     its SHA-256 is not Plan.ExpectPrevious (nil: the pointer must not
//     exist), another publish went live since this one was built: a
//     *ConflictError, and nothing is written. When the pointer already
//     holds exactly Plan.Pointer.Data, an earlier run of this same plan got
//     past step 3 and failed later: Publish resumes, skipping step 3.
//  2. Upload Plan.Blobs, the content-addressed objects, with IfNotExist.
//     An existing blob with the same bytes is fine (an earlier or
//     concurrent publish put it there); different bytes under a
//     content-addressed name are refused as a security error.
//     Then write Plan.Before, mutable objects the new pointer needs readers
//     to find already (the transparency log's checkpoint that includes the
//     new manifest, internal/tlog). On GCS, a concurrent publisher fails
//     at the log's create-only tiles before it reaches this step.
//  3. Write Plan.Pointer, the one object that makes the new set live. On
//     GCS the write carries ifGenerationMatch (the generation read in step
//     1, or DoesNotExist for the first publish), on S3 If-Match with the
//     ETag read in step 1 (If-None-Match: * for the first publish), so of
//     two publishers built on the same pointer exactly one wins and the
//     other gets a *ConflictError; elsewhere the lock makes the step-1
//     check final.
//  4. Upload Plan.Files (mutable convenience copies such as pubkeys.pgp,
//     overwritten) and then Plan.After. Without the lock the pointer is
//     checked before each object (the GCS generation; on S3 its content):
//     if a newer publish has taken over,
//     Publish stops writing copies and leaves them to it.
//
// A failure in step 2 or earlier leaves the previous pointer live; extra
// blobs are harmless. A failure in step 4 leaves the new pointer live and
// all its blobs present: clients read the pointer and, when a mutable copy
// does not match it yet, fall back to the content-addressed blob. Running
// the same plan again completes the publish.
//
// # Retries
//
// Every bucket operation is retried with exponential backoff and jitter on
// transient failures — HTTP 5xx, 429 and 408, broken or timed-out
// connections — and never on precondition failures, not-found or
// permission errors. The attempts and the time per operation are bounded
// (Options); when they run out the error says the bucket kept failing and
// what to do. The s3:// and gs:// drivers make one request per
// attempt, so that this is the only policy. 501 Not Implemented is
// final.
//
// A write whose answer was lost may have landed. Retried writes therefore
// resolve a precondition failure by reading the object back: if it holds
// the bytes being written, the write succeeded (our own earlier attempt);
// only different bytes are a conflict.
//
// # Caching and types
//
// Blobs get "Cache-Control: public, max-age=31536000, immutable"; the
// pointer and mutable files get "no-cache" (see cacheMutable for why).
// Content types follow the extension: application/pgp-keys for .pgp,
// application/pgp-signature for .sig, application/json for .json. An
// Object's own ContentType or CacheControl, when set, wins. Directory
// targets store neither (no sidecar files): the web server that serves
// the directory decides.
//
// Options.Log, when set, hears what was uploaded (names and sizes, never
// content) and each retry.
package publish
