package backup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// KindBackupList is the kind of `backup list -o json`.
const KindBackupList = "BackupList"

// ListItem is one backup of `backup list`.
type ListItem struct {
	Name     string    `json:"name"`
	Location string    `json:"location"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	// Status is ok, no-metadata, bad-metadata or size-mismatch (from the
	// listing, without reading the data); partial for a leftover of a killed
	// create (.NAME.partial-*, older than 1h), writing for a younger one.
	Status string `json:"status"`
	// Kind is why the backup was taken (KindOf: scheduled, manual,
	// pre-migration, pre-restore, safety); empty for partial files.
	Kind string `json:"kind,omitempty"`
	// Info is the backup's BackupInfo, when it has a valid one.
	Info *BackupInfo `json:"info,omitempty"`
}

// BackupList is the `backup list -o json|yaml` document.
type BackupList struct {
	Location string     `json:"location"`
	Items    []ListItem `json:"items"`
}

// ListOptions are the options of `backup list`.
type ListOptions struct {
	base
	Print     *output.Flags
	Dir, From string
	InCluster bool
	target    Target
}

// NewListOptions returns the defaults.
func NewListOptions(g *cli.Global) *ListOptions {
	return &ListOptions{base: newBase(g), Print: output.NewFlags()}
}

// NewCmdList returns `backup list`.
func NewCmdList(g *cli.Global) *cobra.Command {
	o := NewListOptions(g)
	cmd := &cobra.Command{
		Use:   "list (--dir DIR | --from s3://BUCKET/PREFIX | --in-cluster) [-o table|wide|json|yaml]",
		Short: "List backups with kind, age, size and whether and when they were verified",
		Long: `List backups with their kind (scheduled, manual, pre-migration, pre-restore, safety;
",base" for a base backup (create --physical), ",pinned" when backup pin keeps them), age, size, status and verification.
STATUS is ok, no-metadata, bad-metadata or size-mismatch (from the listing and the
BackupInfo, without reading the data); partial for a temporary file a killed create left
in a directory (.NAME.partial-*, older than 1h: backup prune removes it) and writing for a
younger one (maybe a create still running). -o wide adds the namespace.`,
		Example: `  kubectl piyasa backup list --dir ./backups
  kubectl piyasa backup list --from s3://my-bucket/piyasa -o json | jq '.items[] | select(.info.verification.restoreTest)'`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "List the backups in this directory")
	cmd.Flags().StringVar(&o.From, "from", "", "List the backups under s3://BUCKET/PREFIX")
	cmd.Flags().BoolVar(&o.InCluster, "in-cluster", false, "List what the backup CronJob wrote into the backup PVC (through a short-lived read-only pod); copy one out with backup pull")
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the global options.
func (o *ListOptions) Complete(_ *cobra.Command, _ []string) error { return o.Global.Complete() }

// Validate checks the flags (no I/O).
func (o *ListOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	n := 0
	for _, set := range []bool{o.Dir != "", o.From != "", o.InCluster} {
		if set {
			n++
		}
	}
	if n != 1 {
		return cli.Usagef("give exactly one of --dir DIR, --from s3://BUCKET/PREFIX or --in-cluster")
	}
	if o.InCluster {
		return nil
	}
	t, err := placeTarget(o.Dir, o.From, o.S3)
	if err != nil {
		return err
	}
	o.target = t
	return nil
}

// placeTarget is the place that --dir or --from names (list and prune).
func placeTarget(dir, from string, s3 *S3Flags) (Target, error) {
	if from != "" && !strings.HasPrefix(from, S3Scheme) {
		return nil, cli.Usagef("--from takes s3://BUCKET/PREFIX; use --dir for a local directory")
	}
	ref := dir
	if from != "" {
		ref = from
	}
	t, err := ParseTargetRef(ref, s3)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return t, nil
}

// Run lists.
func (o *ListOptions) Run(ctx context.Context) error {
	if o.InCluster {
		items, err := o.inClusterEntries(ctx)
		if err != nil {
			return err
		}
		if items == nil {
			items = []ListItem{}
		}
		return o.print(BackupList{Location: "pvc:" + o.Env.ObjectName(app.BackupPVC), Items: items})
	}
	items, err := listItems(ctx, o.target, o.Now())
	if err != nil {
		return err
	}
	doc := BackupList{Location: strings.TrimSuffix(o.target.Location(""), "/"), Items: items}
	if doc.Items == nil {
		doc.Items = []ListItem{}
	}
	return o.print(doc)
}

func (o *ListOptions) print(doc BackupList) error {
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, KindBackupList, doc)
	}
	if len(doc.Items) == 0 {
		o.Infof("no backups in %s\n", doc.Location)
		return nil
	}
	headers := []string{"NAME", "KIND", "AGE", "SIZE", "STATUS", "VERIFIED"}
	if o.Print.IsWide() {
		headers = append(headers, "NAMESPACE", "TABLES", "ROWS", "ALEMBIC", "RAW SIZE")
	}
	tp := output.NewTable(o.Out, headers...)
	now := o.Now()
	for _, it := range doc.Items {
		age := it.Modified
		verified := "no"
		if it.Info != nil {
			age = it.Info.EndTime
			if v := it.Info.Verification; v != nil {
				kind := "checksums"
				if v.RestoreTest {
					kind = "restore-test"
				}
				verified = fmt.Sprintf("%s %s ago", kind, duration.HumanDuration(now.Sub(v.Time)))
			}
		}
		kind := orDash(it.Kind)
		if it.Info != nil && it.Info.Format == FormatBaseBackup || it.Info == nil && IsBaseBackupName(it.Name) {
			kind += ",base"
		}
		if it.Info != nil && it.Info.Pinned {
			kind += ",pinned"
		}
		row := []string{it.Name, kind, duration.HumanDuration(now.Sub(age)), HumanBytes(it.Size), it.Status, verified}
		if o.Print.IsWide() {
			if in := it.Info; in != nil {
				rows := int64(0)
				for _, t := range in.Tables {
					rows += t.Rows
				}
				row = append(row, in.Namespace, fmt.Sprint(len(in.Tables)), fmt.Sprint(rows), orDash(in.AlembicRevision), HumanBytes(in.RawBytes))
			} else {
				row = append(row, "-", "-", "-", "-", "-")
			}
		}
		tp.Append(row...)
	}
	return tp.Render()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
