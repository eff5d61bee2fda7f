package backup

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// CheckResult is what reading a stored backup found.
type CheckResult struct {
	Info     *BackupInfo
	Problems []string
}

// checkStored reads the backup whole: the stored sha256 and size, the
// decompression, the plain dump's sha256, size and trailer, and every
// table's row count, all against the metadata. An encrypted backup is
// decrypted with ids as it is read: without ids it returns a
// *NeedIdentityError, when no identity fits a *DecryptError.
func checkStored(ctx context.Context, loc Location, ids *Identities) (*CheckResult, error) {
	raw, err := loc.Target.ReadMeta(ctx, loc.Name)
	if err != nil {
		if isNotExist(err) {
			if missing := backupMissing(ctx, loc); missing != nil {
				return nil, missing
			}
			return nil, fmt.Errorf("no metadata %s beside the backup: it was not written by backup create, or its creation did not finish", loc.Target.Location(loc.Name)+MetadataSuffix)
		}
		return nil, err
	}
	info, err := ParseInfo(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", loc.Target.Location(loc.Name)+MetadataSuffix, err)
	}
	res := &CheckResult{Info: info}
	if IsEncryptedName(loc.Name) != (info.Encryption != nil) {
		res.Problems = append(res.Problems, encryptionMismatch(loc.Name, info))
		return res, nil
	}
	r, err := loc.Target.Open(ctx, loc.Name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	stored := NewCounter()
	clear, err := ids.Decrypt(io.TeeReader(r, stored), loc.Target.Location(loc.Name), info.Encryption)
	if err != nil {
		return nil, err
	}
	dec, err := Compression(info.Compression).NewDecompressor(clear)
	plain := NewCounter()
	scan := NewDumpScanner()
	base := &baseScanner{Raw: plain}
	if err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("%s decompression failed: %v", info.Compression, err))
	} else {
		if info.Format == FormatBaseBackup {
			err = base.readPlain(dec)
		} else {
			_, err = io.Copy(io.MultiWriter(plain, scan), dec)
		}
		dec.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("%s decompression failed: %v", info.Compression, err))
		}
	}
	// Read what the decompressor left (trailing garbage counts in the checksum).
	if _, err := io.Copy(stored, r); err != nil {
		return nil, fmt.Errorf("read %s: %v", loc.Target.Location(loc.Name), err)
	}
	if stored.N != info.StoredBytes {
		res.Problems = append(res.Problems, fmt.Sprintf("stored size %d differs from the metadata's %d", stored.N, info.StoredBytes))
	}
	if s := stored.Sum(); s != info.StoredSHA256 {
		res.Problems = append(res.Problems, fmt.Sprintf("stored sha256 %s differs from the metadata's %s", short(s), short(info.StoredSHA256)))
	}
	if len(res.Problems) > 0 {
		return res, nil // a damaged file: the rest would only repeat it
	}
	if info.Format == FormatBaseBackup {
		return res, checkBase(res, base)
	}
	if plain.N != info.RawBytes {
		res.Problems = append(res.Problems, fmt.Sprintf("dump size %d differs from the metadata's %d", plain.N, info.RawBytes))
	}
	if s := plain.Sum(); s != info.RawSHA256 {
		res.Problems = append(res.Problems, fmt.Sprintf("dump sha256 %s differs from the metadata's %s", short(s), short(info.RawSHA256)))
	}
	if info.IsRedis() {
		if !scan.RDBMagic() {
			res.Problems = append(res.Problems, "the file does not start with Redis' RDB signature")
		}
		return res, nil
	}
	if p := scan.Problem(); p != "" {
		res.Problems = append(res.Problems, p)
	}
	res.Problems = append(res.Problems, compareRows(info.TableMap(), scan.Tables, "the dump")...)
	return res, nil
}

// encryptionMismatch says that a name and its metadata disagree about encryption.
func encryptionMismatch(name string, info *BackupInfo) string {
	if info.Encryption != nil {
		return fmt.Sprintf("the metadata says the file is encrypted (%s) but its name %s does not end in %s", info.Encryption.Method, name, EncryptedSuffix)
	}
	return fmt.Sprintf("the name %s ends in %s but the metadata names no encryption", name, EncryptedSuffix)
}

// backupMissing returns an exit-2 error when the backup itself does not
// exist (nil when it does, or when that cannot be told).
func backupMissing(ctx context.Context, loc Location) error {
	r, err := loc.Target.Open(ctx, loc.Name)
	if err == nil {
		r.Close()
		return nil
	}
	if !isNotExist(err) {
		return nil
	}
	return cli.Usagef("%s does not exist; nothing was changed", loc.Target.Location(loc.Name)).
		WithHint("check the name; the backups there are listed by: kubectl piyasa backup list --dir DIR (or --from s3://BUCKET/PREFIX)")
}

// compareRows names every table whose count in got differs from want.
func compareRows(want, got map[string]int64, where string) []string {
	var out []string
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g, ok := got[n]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("table %s is missing from %s", n, where))
		case g != want[n]:
			out = append(out, fmt.Sprintf("table %s has %d rows in %s, the metadata says %d", n, g, where, want[n]))
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			out = append(out, fmt.Sprintf("table %s of %s is not in the metadata", n, where))
		}
	}
	return out
}

func joinProblems(p []string) string {
	if len(p) > 3 {
		return strings.Join(p[:3], "; ") + fmt.Sprintf("; and %d more", len(p)-3)
	}
	return strings.Join(p, "; ")
}

// checkBase adds the problems of a base backup read whole: the tar's
// (its end, backup_label, WAL), its size and sha256, and the label's start
// against the metadata's WAL range.
func checkBase(res *CheckResult, scan *baseScanner) error {
	info := res.Info
	if p := scan.Problem(); p != "" {
		res.Problems = append(res.Problems, p)
		return nil
	}
	if scan.Raw.N != info.RawBytes {
		res.Problems = append(res.Problems, fmt.Sprintf("tar size %d differs from the metadata's %d", scan.Raw.N, info.RawBytes))
	}
	if s := scan.Raw.Sum(); s != info.RawSHA256 {
		res.Problems = append(res.Problems, fmt.Sprintf("tar sha256 %s differs from the metadata's %s", short(s), short(info.RawSHA256)))
	}
	if w := info.WAL; w == nil || w.StartLSN != scan.Label.StartLSN || w.Timeline != scan.Label.Timeline {
		res.Problems = append(res.Problems, fmt.Sprintf("backup_label starts at %s on timeline %d, not where the metadata's WAL range does", scan.Label.StartLSN, scan.Label.Timeline))
	}
	return nil
}
