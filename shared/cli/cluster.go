package cli

// Inherit makes g, a fresh Global of one cluster of a fleet, take from's
// kubectl flags (kubeconfig, credentials, impersonation, timeouts,
// --match-server-version, --warnings-as-errors), its clock and environment,
// with the kubeconfig context given, and the environment and namespace given
// ("" keeps from's --env and -n). Call it once the command of g is made:
// binding the flags sets their defaults.
func (g *Global) Inherit(from *Global, kubeContext, env, namespace string) {
	dst, src := g.ConfigFlags, from.ConfigFlags
	for _, p := range [][2]*string{
		{dst.CacheDir, src.CacheDir}, {dst.KubeConfig, src.KubeConfig}, {dst.ClusterName, src.ClusterName},
		{dst.AuthInfoName, src.AuthInfoName}, {dst.APIServer, src.APIServer}, {dst.TLSServerName, src.TLSServerName},
		{dst.CertFile, src.CertFile}, {dst.KeyFile, src.KeyFile}, {dst.CAFile, src.CAFile},
		{dst.BearerToken, src.BearerToken}, {dst.Impersonate, src.Impersonate}, {dst.ImpersonateUID, src.ImpersonateUID},
		{dst.Timeout, src.Timeout}, {dst.Namespace, src.Namespace},
	} {
		if p[0] != nil && p[1] != nil {
			*p[0] = *p[1]
		}
	}
	for _, p := range [][2]*bool{{dst.Insecure, src.Insecure}, {dst.DisableCompression, src.DisableCompression}} {
		if p[0] != nil && p[1] != nil {
			*p[0] = *p[1]
		}
	}
	for _, p := range [][2]*[]string{{dst.ImpersonateGroup, src.ImpersonateGroup}, {dst.ImpersonateUserExtra, src.ImpersonateUserExtra}} {
		if p[0] != nil && p[1] != nil {
			*p[0] = append([]string(nil), *p[1]...)
		}
	}
	ctx := kubeContext
	dst.Context = &ctx
	if namespace != "" {
		ns := namespace
		dst.Namespace = &ns
	}
	g.EnvName = from.EnvName
	if env != "" {
		g.EnvName = env
	}
	g.kf.username, g.kf.password = from.kf.username, from.kf.password
	g.kf.matchServerVersion, g.kf.warningsAsErrors = from.kf.matchServerVersion, from.kf.warningsAsErrors
	g.Now, g.Getenv = from.Now, from.Getenv
}

// Outcome is the error that a run of g's command ending with err exits with,
// as Execute reports it: nil for success (and no warning under
// --warnings-as-errors), else the classified error.
func (g *Global) Outcome(err error) *Error {
	if err == nil {
		err = g.warningsError()
	}
	return Classify(err, g.Server())
}
