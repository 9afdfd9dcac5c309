package s3

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// maxSharedFile caps the size of ~/.aws/credentials and ~/.aws/config.
const maxSharedFile = 1 << 20

// maxProcessOutput caps what a credential_process may print.
const maxProcessOutput = 64 << 10

// processTimeout bounds a credential_process run.
const processTimeout = time.Minute

// processWaitDelay is how long output pipes may outlive the process.
const processWaitDelay = time.Second

// sharedFiles are the AWS shared credentials and config files, parsed.
type sharedFiles struct {
	credPath, configPath string
	cred, config         map[string]map[string]string // section -> key -> value; nil if the file is missing
	err                  error
}

func homeDir(getenv env) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	if h := getenv("USERPROFILE"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

func loadSharedFiles(getenv env) *sharedFiles {
	home := homeDir(getenv)
	f := &sharedFiles{
		credPath:   getenv("AWS_SHARED_CREDENTIALS_FILE"),
		configPath: getenv("AWS_CONFIG_FILE"),
	}
	if f.credPath == "" {
		f.credPath = filepath.Join(home, ".aws", "credentials")
	}
	if f.configPath == "" {
		f.configPath = filepath.Join(home, ".aws", "config")
	}
	var err error
	if f.cred, err = readINI(f.credPath); err != nil {
		f.err = err
	}
	if f.config, err = readINI(f.configPath); err != nil && f.err == nil {
		f.err = err
	}
	return f
}

func (ch *chain) sharedFiles() *sharedFiles { return loadSharedFiles(ch.getenv) }

// profileName is the profile in use: ?profile=, AWS_PROFILE, "default".
func (ch *chain) profileName() string { return profileName(ch.profile, ch.getenv) }

func profileName(explicit string, getenv env) string {
	switch {
	case explicit != "":
		return explicit
	case getenv("AWS_PROFILE") != "":
		return getenv("AWS_PROFILE")
	}
	return "default"
}

func (f *sharedFiles) describe(profile string) string {
	return fmt.Sprintf("profile %q in %s and %s", profile, f.credPath, f.configPath)
}

// profile returns the merged keys of profile name: the config file's
// "[profile name]" (or "[default]"), overridden by the credentials file's
// "[name]".
func (f *sharedFiles) profile(name string) (map[string]string, bool) {
	out := map[string]string{}
	found := false
	confSections := []string{"profile " + name}
	if name == "default" {
		confSections = []string{"default", "profile default"}
	}
	for _, s := range confSections {
		if kv, ok := f.config[s]; ok {
			found = true
			for k, v := range kv {
				out[k] = v
			}
		}
	}
	if kv, ok := f.cred[name]; ok {
		found = true
		for k, v := range kv {
			out[k] = v
		}
	}
	return out, found
}

// readINI parses an AWS shared file. A missing file is nil, nil. Nested
// sub-properties (indented lines under "key =") are skipped.
func readINI(path string) (map[string]map[string]string, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxSharedFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxSharedFile {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxSharedFile)
	}
	return parseINI(path, data)
}

// parseINI parses the AWS shared file format. Errors name the file and the
// line number, never the line: it may hold a secret key.
func parseINI(path string, data []byte) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	var cur map[string]string
	parentEmpty := false // the last key had an empty value: indented lines are its sub-properties
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxSharedFile)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s line %d: unterminated section header", path, n)
			}
			name := strings.Join(strings.Fields(line[1:len(line)-1]), " ")
			if out[name] == nil {
				out[name] = map[string]string{}
			}
			cur, parentEmpty = out[name], false
			continue
		}
		indented := raw[0] == ' ' || raw[0] == '\t'
		if indented && parentEmpty {
			continue // a sub-property, such as "s3 =\n  addressing_style = path"
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s line %d: want key = value", path, n)
		}
		if cur == nil {
			return nil, fmt.Errorf("%s line %d: key outside a [section]", path, n)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		cur[k] = v
		parentEmpty = v == ""
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// unsupportedHint says how to use a profile keyctl cannot resolve itself.
func unsupportedHint(profile string) string {
	return fmt.Sprintf("give keyctl a profile whose credential_process prints the credentials, e.g. "+
		"[profile keyctl] credential_process = aws configure export-credentials --profile %s --format process, "+
		"then use ?profile=keyctl or AWS_PROFILE=keyctl (docs/manifest.md, s3://)", profile)
}

// fromProfile resolves the credentials of the profile in use.
func (ch *chain) fromProfile(ctx context.Context, f *sharedFiles) (Credentials, error) {
	if f.err != nil {
		return Credentials{}, f.err
	}
	name := ch.profileName()
	p, ok := f.profile(name)
	if !ok {
		if name != "default" {
			return Credentials{}, fmt.Errorf("AWS profile %q not found in %s or %s", name, f.credPath, f.configPath)
		}
		return Credentials{}, errNone
	}
	where := f.describe(name)
	unsupported := func(what string) (Credentials, error) {
		return Credentials{}, fmt.Errorf("%s uses %s, which keyctl does not support; %s", where, what, unsupportedHint(name))
	}
	switch {
	case p["source_profile"] != "":
		return unsupported("source_profile (assume role)")
	case p["credential_source"] != "":
		return unsupported("credential_source (assume role)")
	case p["aws_access_key_id"] != "" || p["aws_secret_access_key"] != "":
		if p["role_arn"] != "" {
			return unsupported("role_arn (assume role)")
		}
		if p["aws_access_key_id"] == "" || p["aws_secret_access_key"] == "" {
			return Credentials{}, fmt.Errorf("%s has only one of aws_access_key_id and aws_secret_access_key: set both", where)
		}
		return Credentials{
			AccessKeyID:     p["aws_access_key_id"],
			SecretAccessKey: p["aws_secret_access_key"],
			SessionToken:    p["aws_session_token"],
			Source:          where,
		}, nil
	case p["web_identity_token_file"] != "":
		return ch.webIdentity(ctx, p["web_identity_token_file"], p["role_arn"], p["role_session_name"], where)
	case p["sso_session"] != "" || p["sso_start_url"] != "":
		return unsupported("AWS IAM Identity Center (SSO)")
	case p["login_session"] != "":
		return unsupported("login_session (aws login)")
	case p["credential_process"] != "":
		if p["role_arn"] != "" {
			return unsupported("role_arn (assume role)")
		}
		return runCredentialProcess(ctx, p["credential_process"], fmt.Sprintf("credential_process of profile %q", name))
	case p["role_arn"] != "":
		return unsupported("role_arn (assume role)")
	}
	return Credentials{}, errNone
}

// processOutput is what a credential_process prints (Version 1).
type processOutput struct {
	Version         int
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

// runCredentialProcess runs command through the shell and reads the
// credentials it prints. Errors name the profile, never the command line
// (it may hold a secret) or the output.
func runCredentialProcess(ctx context.Context, command, what string) (Credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, processTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd.exe", "/C", command)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", command)
	}
	var stdout, stderr cappedBuffer
	stdout.max, stderr.max = maxProcessOutput, 4096
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = nil
	// A helper the process leaves running in the background keeps its
	// output pipes open: stop waiting for them shortly after the process
	// itself exits (and after the timeout kills it).
	cmd.WaitDelay = processWaitDelay
	if err := cmd.Run(); err != nil && !(errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success()) {
		msg := fmt.Sprintf("%s failed: %v", what, runError(err))
		if s := clean(stderr.String(), 300); s != "" {
			msg += ": " + s
		}
		return Credentials{}, errors.New(msg)
	}
	if stdout.over {
		return Credentials{}, fmt.Errorf("%s printed more than %d bytes", what, maxProcessOutput)
	}
	return parseProcessOutput(stdout.Bytes(), what)
}

// runError describes a failed run without the command line that
// exec's errors carry.
func runError(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return "could not run it"
}

func parseProcessOutput(out []byte, what string) (Credentials, error) {
	var p processOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return Credentials{}, fmt.Errorf("%s did not print a JSON object with AccessKeyId and SecretAccessKey", what)
	}
	if p.Version != 1 {
		return Credentials{}, fmt.Errorf("%s printed Version %d; keyctl reads Version 1", what, p.Version)
	}
	if p.AccessKeyID == "" || p.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("%s printed no AccessKeyId or no SecretAccessKey", what)
	}
	c := Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey, SessionToken: p.SessionToken, Source: what}
	if p.Expiration != "" {
		t, err := time.Parse(time.RFC3339, p.Expiration)
		if err != nil {
			return Credentials{}, fmt.Errorf("%s printed an Expiration that is not an RFC 3339 time", what)
		}
		c.Expires = t
	}
	return c, nil
}

// cappedBuffer keeps the first max bytes written and notes whether more came.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// profileSetting is key of the profile in use ("" if none or unreadable).
func profileSetting(profile, key string, getenv env) string {
	f := loadSharedFiles(getenv)
	p, _ := f.profile(profileName(profile, getenv))
	return p[key]
}

// regionFromProfile is the profile's region ("" if none or unreadable).
func regionFromProfile(profile string, getenv env) string {
	return profileSetting(profile, "region", getenv)
}
