#!/usr/bin/python3
"""Checks deploy/ against what profile_server really accepts.

    deploy_check.py --source-dir DIR --profile-server BIN --profilectl BIN [--self-test]

No container engine or cluster is needed: the Dockerfile, deploy/compose.yaml, the nginx site files
and the Kubernetes manifests under deploy/k8s are parsed, and everything they tell the server (flags,
environment, ports, probes) is compared with the built binaries' --helpfull and with each other:

  * every flag given to profile_server or profilectl (Dockerfile ENTRYPOINT/CMD, compose commands,
    Kubernetes args) is one the binary accepts, dashes or underscores; every PROFILES_* variable and
    DATABASE_URL set for it is one it reads ("(env NAME)" in its help);
  * the ports: container ports = the ports of --grpc-address/--http-address (or their variables) =
    probe ports = Service targetPorts = nginx upstream ports (deploy/compose/nginx, deploy/k8s/nginx)
    = nginx listen ports = published/exposed ports;
  * readiness is gRPC health of "profile.v1.ProfileService", liveness of ""; the migration Job runs
    --migrate-only with the replicas' image and database; replicas do not migrate in an init
    container (they only re-check at start, under the migrator's advisory lock);
  * Secrets and ConfigMaps referenced exist; resource requests are set; HPA and PDB select the
    Deployment; the PostgreSQL connection budget holds at the HPA's maximum plus the rollout surge;
    the grace periods cover --shutdown-grace;
  * compose mounts deploy/nginx/profiles.conf itself (the file tests/CMakeLists.txt gives the
    load-balancer test) and its four site files where the image's `nginx -c` looks for them;
  * compose's PostgreSQL runs with wal_level=logical and a max_slot_wal_keep_size (the change feed's
    logical replication slot), and its init scripts give the replicas' role REPLICATION;
  * the Dockerfile: the runtime stage runs as a non-root user and installs no compiler, and its
    packages cover every library `ldd profile_server` lists (dpkg -S, with package dependencies);
    the build stage installs every package of deploy/setup.sh that building needs;
  * where the tools exist: `nginx -t` of profiles.conf with each set of site files, and
    `kubectl kustomize` of deploy/k8s and deploy/k8s/migrate.

--self-test also breaks a copy of the files in a number of ways and fails unless every breakage is
caught, so the checks are known to be able to fail.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.exit("deploy_check: needs PyYAML for " + sys.executable +
             " (Debian: apt-get install python3-yaml; run with /usr/bin/python3)")

GRPC_READY_SERVICE = "profile.v1.ProfileService"
SITE_FILES = ("profiles-listen-grpc.conf", "profiles-listen-rest.conf",
              "profiles-grpc-upstreams.conf", "profiles-rest-upstreams.conf")
# Flags absl handles itself (absl/flags/internal/usage.cc), not listed by --helpfull.
ABSL_BUILTIN_FLAGS = {"help", "helpfull", "helpshort", "helppackage", "version", "only_check_args",
                      "helpon", "helpmatch"}
# libpq's own variables (the server passes its environment on to libpq).
LIBPQ_ENV = re.compile(r"^PG(HOST|HOSTADDR|PORT|DATABASE|USER|PASSWORD|PASSFILE|SERVICE|SERVICEFILE|"
                       r"OPTIONS|APPNAME|SSLMODE|SSLCERT|SSLKEY|SSLROOTCERT|SSLCRL|SSLCRLDIR|"
                       r"CONNECT_TIMEOUT|TARGETSESSIONATTRS|TZ|CLIENTENCODING|KRBSRVNAME|"
                       r"GSSENCMODE|CHANNELBINDING|REQUIRESSL|SSLMINPROTOCOLVERSION)$")
# deploy/setup.sh packages the image's build stage does not need (it builds profile_server and
# profilectl only). A package added to setup.sh must be added to the Dockerfile's build stage or
# here.
NOT_NEEDED_TO_BUILD = {
    "ccache": "compiler cache; a one-off image build keeps none",
    "postgresql-15": "the database, for tests", "postgresql-contrib": "the database, for tests",
    "postgresql-15-wal2json": "the database's logical decoding plugin, for tests",
    "qt6-qpa-plugins": "the app's run time", "libqt6network6": "the app's run time",
    "qt6-image-formats-plugins": "the app's run time",
    "nginx": "load balancer (the image's nginx stage installs it)", "wrk": "benchmarks",
    "xvfb": "UI tests", "xauth": "UI tests", "libgl1-mesa-dri": "UI tests", "curl": "scripts",
    "fonts-roboto": "the app's looks", "fonts-material-design-icons-iconfont": "the app's looks",
    "chromium": "browser tests", "openssl": "test certificates and keys",
    "clang": "fuzzers", "libclang-rt-14-dev": "fuzzers",
    "python3": "tests/deploy", "python3-yaml": "tests/deploy",
    "podman": "building images", "docker.io": "building images",
}
NOT_NEEDED_TO_BUILD_PREFIXES = ("qml6-module-",)
# libasan.so.8, libubsan.so.1, ...: linked only into a sanitized build (cmake -DPROFILES_SANITIZE=ON).
SANITIZER_RUNTIME = re.compile(r"^lib(asan|ubsan|tsan|lsan|hwasan)\.so")

# Runtime packages that no library `ldd profile_server` lists comes from, each with its reason
# (none today; libgrpc++1.51, which also holds the dlopen()ed reflection library, is listed anyway).
RUNTIME_EXTRAS = {}
COMPILER = re.compile(r"^(build-essential|gcc(-\d+)?|g\+\+(-\d+)?|cpp(-\d+)?|clang(-\d+)?|"
                      r"llvm(-\d+)?|cmake|make|ninja-build|binutils|libc6-dev|.*-dev)$")


class Checker:
    """Runs every check on one tree; problems are collected, not raised."""

    def __init__(self, root, server, ctl, system):
        self.root = root
        self.server = server      # the HelpInfo of profile_server
        self.ctl = ctl            # the HelpInfo of profilectl
        self.system = system      # SystemInfo: dpkg, nginx, kubectl (shared between runs)
        self.problems = []
        self.notes = []

    def fail(self, where, message):
        if f"{where}: {message}" not in self.problems:
            self.problems.append(f"{where}: {message}")

    def note(self, message):
        self.notes.append(message)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    # ---------------------------------------------------------------- flags and environment

    def check_args(self, where, args, info, positionals=0):
        """Checks args against `info`; returns {flag: value} of what they set."""
        values = {}
        seen_positionals = 0
        i = 0
        while i < len(args):
            arg = str(args[i])
            i += 1
            if not arg.startswith("-") or arg == "-":
                seen_positionals += 1
                if seen_positionals > positionals:
                    self.fail(where, f"argument {arg!r} is not a flag ({info.program} takes "
                                     f"{positionals} positional argument(s))")
                continue
            if arg == "--":
                continue
            body = arg.lstrip("-")
            name, has_value, value = body.partition("=")
            name = name.replace("-", "_")
            if name in ABSL_BUILTIN_FLAGS:
                values[name] = value or "true"
                continue
            if name not in info.flags and name.startswith("no") and \
                    info.flags.get(name[2:], {}).get("bool") and not has_value:
                values[name[2:]] = "false"
                continue
            if name not in info.flags:
                self.fail(where, f"{info.program} has no flag --{name} (given as {arg!r})")
                continue
            if not has_value:
                if info.flags[name]["bool"]:
                    value = "true"
                elif i < len(args):
                    value = str(args[i])
                    i += 1
                else:
                    self.fail(where, f"--{name} has no value")
            values[name] = value
        return values

    def check_env(self, where, env):
        # Kubernetes: a variable only other values refer to, as $(NAME), is a helper.
        helpers = {n for value in env.values() for n in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                                                   str(value))}
        for name in env:
            if name in helpers and not name.startswith("PROFILES_") and name != "DATABASE_URL":
                continue
            if name.startswith("PROFILES_") or name == "DATABASE_URL":
                if name not in self.server.env:
                    self.fail(where, f"environment variable {name} is not read by profile_server "
                                     f"(its help names: {', '.join(sorted(self.server.env))})")
            elif not LIBPQ_ENV.match(name):
                self.fail(where, f"environment variable {name} means nothing to profile_server or "
                                 f"libpq")

    def effective(self, flag, args_values, env, image_env):
        """What profile_server uses for `flag`: the flag, else its variable, else its default."""
        if flag in args_values:
            return args_values[flag]
        variable = self.server.env_of.get(flag)
        if variable and variable in env:
            return env[variable]
        if variable and variable in image_env:
            return image_env[variable]
        return self.server.flags[flag]["default"]

    def server_setup(self, where, args, env, image_env):
        """Checks a profile_server invocation; returns its effective settings."""
        values = self.check_args(where, args, self.server)
        self.check_env(where, env)
        setup = {}
        for flag in ("grpc_address", "http_address", "shutdown_grace", "pool_size", "cache_bytes",
                     "auth_key_file", "migrate_only", "auth", "database_url"):
            if flag not in self.server.flags:
                self.fail(where, f"profile_server --helpfull lists no --{flag}; update this check")
                continue
            setup[flag] = self.effective(flag, values, env, image_env)
        try:
            setup["grpc_port"] = port_of(setup["grpc_address"])
            setup["http_port"] = port_of(setup["http_address"])
        except (KeyError, ValueError) as e:
            self.fail(where, f"cannot read the listening ports: {e}")
        setup["migrate_only"] = str(setup.get("migrate_only")).lower() in ("true", "1", "yes")
        return setup

    # ---------------------------------------------------------------- Dockerfile

    def check_dockerfile(self):
        where = "deploy/Dockerfile"
        try:
            stages = parse_dockerfile(self.path("deploy", "Dockerfile"))
        except OSError as e:
            self.fail(where, str(e))
            return None
        by_name = {s["name"]: s for s in stages}
        for needed in ("build", "nginx", "runtime"):
            if needed not in by_name:
                self.fail(where, f"no stage named {needed!r}")
        if "runtime" not in by_name or "build" not in by_name:
            return None
        if stages[-1]["name"] != "runtime":
            self.fail(where, "the runtime stage is not the last one (the default target)")
        runtime, build, nginx = by_name["runtime"], by_name["build"], by_name.get("nginx")

        # The runtime stage: a user of its own, no compiler, only the binaries copied in.
        user = runtime["user"]
        uid = user.split(":")[0] if user else None
        if not uid or uid in ("0", "root"):
            self.fail(where + " (runtime)", f"runs as root (USER {user!r}); the server needs no "
                                             f"privileges")
        elif uid.isdigit() and f"--uid {uid}" not in runtime["text"]:
            self.fail(where + " (runtime)", f"USER {uid} is not created in the stage "
                                             f"(useradd --uid {uid})")
        for package in runtime["packages"]:
            if COMPILER.match(package):
                self.fail(where + " (runtime)", f"installs {package}, a compiler or build tool")
        for source, _ in runtime["copies_from"].get("build", []):
            if os.path.basename(source) not in ("profile_server", "profilectl"):
                self.fail(where + " (runtime)", f"copies {source} from the build stage; only the "
                                                 f"two binaries belong in it")
        if not runtime["copies_from"].get("build"):
            self.fail(where + " (runtime)", "copies nothing from the build stage")
        entry = runtime["entrypoint"] or []
        if not entry or os.path.basename(entry[0]) != "profile_server":
            self.fail(where + " (runtime)", f"ENTRYPOINT is {entry}, not profile_server")
        setup = self.server_setup(where + " (runtime ENTRYPOINT/CMD)",
                                  entry[1:] + (runtime["cmd"] or []), runtime["env"], {})
        exposed = set(runtime["expose"])
        for key in ("grpc_port", "http_port"):
            if key in setup and setup[key] not in exposed:
                self.fail(where + " (runtime)", f"EXPOSE {sorted(exposed)} lacks the {key} "
                                                 f"{setup[key]} its environment sets")
        # The image must hold what the server reads at run time: a directory for the key.
        if "/var/lib/profiles" not in runtime["text"]:
            self.note("Dockerfile: runtime stage makes no /var/lib/profiles")

        # The build stage: what deploy/setup.sh installs for building.
        try:
            setup_packages = parse_setup_packages(self.path("deploy", "setup.sh"))
        except (OSError, ValueError) as e:
            self.fail("deploy/setup.sh", str(e))
            setup_packages = []
        for package in setup_packages:
            if package in build["packages"] or package in NOT_NEEDED_TO_BUILD or \
                    package.startswith(NOT_NEEDED_TO_BUILD_PREFIXES):
                continue
            self.fail(where + " (build)", f"does not install {package}, which deploy/setup.sh "
                                           f"installs (add it, or say in {__file__}'s "
                                           f"NOT_NEEDED_TO_BUILD why building needs it not)")
        if not any("cmake --build" in r for r in build["runs"]):
            self.fail(where + " (build)", "runs no `cmake --build`")
        # Configuring reads every directory the top-level CMakeLists.txt adds.
        copied = {os.path.normpath(src).split(os.sep)[0] for src, _ in build["copies"]}
        try:
            top = read(self.path("CMakeLists.txt"))
            for directory in re.findall(r"^\s*add_subdirectory\(\s*([^\s)]+)", top, re.M):
                if directory.split("/")[0] not in copied and "." not in copied:
                    self.fail(where + " (build)", f"does not COPY {directory.split('/')[0]}, which "
                                                   f"CMakeLists.txt adds (add_subdirectory)")
        except OSError as e:
            self.fail("CMakeLists.txt", str(e))

        # The nginx stage: Debian's nginx with the tree's profiles.conf.
        if nginx:
            nuser = (nginx["user"] or "").split(":")[0]
            if not nuser or nuser in ("0", "root"):
                self.fail(where + " (nginx)", "runs as root")
            nentry = nginx["entrypoint"] or []
            conf = option_value(nentry, "-c")
            prefix = option_value(nentry, "-p")
            if not nentry or os.path.basename(nentry[0]) != "nginx" or not conf or not prefix:
                self.fail(where + " (nginx)", f"ENTRYPOINT {nentry} is not nginx -p PREFIX -c "
                                               f"CONF")
            copied = {dest: src for src, dest in nginx["copies"]}
            if conf and copied.get(conf) != "deploy/nginx/profiles.conf":
                self.fail(where + " (nginx)", f"does not COPY deploy/nginx/profiles.conf to "
                                               f"{conf} (the -c file)")
            if "daemon" in " ".join(nentry):
                self.fail(where + " (nginx)", "sets daemon in -g; profiles.conf already does")
            return {"setup": setup, "runtime": runtime, "nginx_conf": conf,
                    "nginx_expose": set(nginx["expose"])}
        return {"setup": setup, "runtime": runtime, "nginx_conf": None, "nginx_expose": set()}

    def check_runtime_packages(self, runtime):
        """The runtime packages against `ldd profile_server` mapped through `dpkg -S`."""
        where = "deploy/Dockerfile (runtime packages)"
        dpkg = self.system.dpkg
        if dpkg is None:
            self.note("SKIPPED: the runtime package check needs dpkg and ldd (Debian); not found")
            return
        listed = set(runtime["packages"])
        for package in sorted(listed):
            if package not in dpkg.installed:
                known = self.system.apt_knows(package)
                if known is False:
                    self.fail(where, f"{package} is no Debian package apt knows")
                else:
                    self.note(f"runtime package {package} is not installed here: its dependencies "
                              f"are not followed")
        closure = dpkg.closure(listed | dpkg.base)
        for package in sorted(closure - dpkg.closure(dpkg.base)):
            if COMPILER.match(package) and not package.endswith("-dev"):
                self.fail(where, f"{package} (a compiler or build tool) comes with the runtime "
                                 f"packages")
        needed = self.system.ldd_packages(self.server.binary)
        for library, package in sorted(needed.items()):
            if package is None:
                self.fail(where, f"{library} (ldd profile_server) belongs to no Debian package")
            elif package not in closure:
                self.fail(where, f"{library} comes from {package}, which the runtime stage does "
                                 f"not install (nor does anything it installs depend on it)")
        providers = set(p for p in needed.values() if p)
        for package in sorted(listed):
            if package not in providers and package not in RUNTIME_EXTRAS:
                self.fail(where, f"{package} provides no library profile_server loads; drop it "
                                 f"or give its reason in {__file__}'s RUNTIME_EXTRAS")
            if package in RUNTIME_EXTRAS and package not in providers:
                self.note(f"runtime package {package}: {RUNTIME_EXTRAS[package]} (ldd lists none "
                          f"of its libraries)")

    # ---------------------------------------------------------------- nginx files

    def check_profiles_conf(self):
        where = "deploy/nginx/profiles.conf"
        try:
            text = read(self.path("deploy", "nginx", "profiles.conf"))
        except OSError as e:
            self.fail(where, str(e))
            return
        includes = set(re.findall(r"^\s*include\s+(\S+?)\s*;", strip_nginx_comments(text), re.M))
        if includes != set(SITE_FILES):
            self.fail(where, f"includes {sorted(includes)}, not the four site files "
                             f"{list(SITE_FILES)} deploy/compose/nginx and deploy/k8s/nginx supply")
        try:
            tests = read(self.path("tests", "CMakeLists.txt"))
            if "deploy/nginx/profiles.conf" not in tests:
                self.fail("tests/CMakeLists.txt", "no test runs deploy/nginx/profiles.conf (the "
                                                  "load-balancer test should)")
        except OSError as e:
            self.fail("tests/CMakeLists.txt", str(e))

    def read_sites(self, directory):
        where = os.path.relpath(directory, self.root)
        sites = {}
        for name in SITE_FILES:
            try:
                sites[name] = strip_nginx_comments(read(os.path.join(directory, name)))
            except OSError as e:
                self.fail(where, str(e))
                sites[name] = ""
        unexpected = sorted(set(os.listdir(directory)) - set(SITE_FILES)) \
            if os.path.isdir(directory) else []
        if unexpected:
            self.fail(where, f"holds {unexpected}, which profiles.conf does not include")
        result = {"dir": directory}
        for kind in ("grpc", "rest"):
            result[kind + "_listen"] = listen_ports(sites[f"profiles-listen-{kind}.conf"])
            result[kind + "_upstreams"] = upstream_servers(sites[f"profiles-{kind}-upstreams.conf"])
            if not result[kind + "_listen"]:
                self.fail(where, f"profiles-listen-{kind}.conf has no listen line")
            if not result[kind + "_upstreams"]:
                self.fail(where, f"profiles-{kind}-upstreams.conf has no `server host:port;` line")
        if "http2" not in sites["profiles-listen-grpc.conf"]:
            self.fail(where, "the gRPC listen line lacks http2 (nginx 1.22: `listen PORT http2;`)")
        return result

    def nginx_syntax(self, sites):
        """`nginx -t` of profiles.conf with `sites`' files, upstream hosts made 127.0.0.1."""
        if not self.system.nginx:
            self.note("SKIPPED: nginx -t (no nginx here)")
            return
        where = os.path.relpath(sites["dir"], self.root)
        with tempfile.TemporaryDirectory(prefix="deploy-check-nginx-") as tmp:
            os.chmod(tmp, 0o755)
            shutil.copy(self.path("deploy", "nginx", "profiles.conf"), tmp)
            for name in SITE_FILES:
                text = read(os.path.join(sites["dir"], name))
                if "upstreams" in name:
                    text = re.sub(r"^(\s*server\s+)[^\s:;]+:", r"\g<1>127.0.0.1:", text, flags=re.M)
                with open(os.path.join(tmp, name), "w") as out:
                    out.write(text)
            result = subprocess.run(
                [self.system.nginx, "-t", "-q", "-e", "stderr", "-p", tmp + "/",
                 "-c", os.path.join(tmp, "profiles.conf")],
                capture_output=True, text=True, timeout=60)
            if result.returncode != 0:
                self.fail(where, "nginx -t of profiles.conf with these site files failed:\n" +
                          result.stderr.strip())

    # ---------------------------------------------------------------- compose

    def check_compose(self, docker):
        where = "deploy/compose.yaml"
        try:
            compose = yaml.safe_load(read(self.path("deploy", "compose.yaml")))
        except (OSError, yaml.YAMLError) as e:
            self.fail(where, str(e))
            return
        services = compose.get("services") or {}
        compose_dir = self.path("deploy")
        image_env = docker["runtime"]["env"] if docker else {}
        server_images = {s.get("image") for s in services.values()
                         if (s.get("build") or {}).get("target") == "runtime"}
        if not server_images:
            self.fail(where, "no service builds deploy/Dockerfile's runtime stage")
        replicas, migrators = {}, {}
        for name, service in services.items():
            if service.get("image") not in server_images:
                continue
            at = f"{where} service {name}"
            env = compose_env(service.get("environment"))
            entrypoint = as_list(service.get("entrypoint"))
            command = as_list(service.get("command"))
            if entrypoint and os.path.basename(entrypoint[0]) == "profilectl":
                self.check_args(at, entrypoint[1:] + command, self.ctl, positionals=1)
                continue
            if entrypoint:
                # A helper with a shell (keygen): only its environment is the server's business.
                continue
            setup = self.server_setup(at, command, env, image_env)
            setup["env"] = env
            (migrators if setup.get("migrate_only") else replicas)[name] = (service, setup)

        if len(replicas) < 2:
            self.fail(where, f"{len(replicas)} profile_server replica(s); two are expected")
        if not migrators:
            self.fail(where, "no service runs profile_server --migrate-only")
        for name, (service, setup) in replicas.items():
            at = f"{where} service {name}"
            depends = service.get("depends_on") or {}
            for migrator in migrators:
                condition = depends.get(migrator, {}).get("condition") \
                    if isinstance(depends, dict) else None
                if condition != "service_completed_successfully":
                    self.fail(at, f"does not wait for {migrator} (--migrate-only) to complete "
                                  f"(depends_on condition service_completed_successfully)")
            self.check_database_url(at, setup.get("database_url"), services)
            grace = duration_seconds(setup.get("shutdown_grace", "10s"))
            stop = duration_seconds(str(service.get("stop_grace_period", "10s")))
            if stop <= grace:
                self.fail(at, f"stop_grace_period {stop:g}s does not exceed --shutdown-grace "
                              f"{grace:g}s: the drain would end in SIGKILL")
            health = " ".join(as_list((service.get("healthcheck") or {}).get("test")))
            if "/readyz" not in health or str(setup.get("http_port")) not in health:
                self.fail(at, f"its healthcheck does not ask /readyz on its HTTP port "
                              f"{setup.get('http_port')}")
            self.check_key_file_mount(at, setup, service.get("volumes") or [], services)
        for name, (service, setup) in migrators.items():
            self.check_database_url(f"{where} service {name}", setup.get("database_url"), services)
        self.check_compose_postgres(where, services, replicas)

        # nginx: profiles.conf itself and the compose site files where `nginx -c` looks.
        sites = self.read_sites(self.path("deploy", "compose", "nginx"))
        self.nginx_syntax(sites)
        nginx = [n for n, s in services.items() if (s.get("build") or {}).get("target") == "nginx"]
        if len(nginx) != 1:
            self.fail(where, f"{len(nginx)} services build the Dockerfile's nginx stage; one is "
                             f"expected")
            return
        at = f"{where} service {nginx[0]}"
        service = services[nginx[0]]
        conf = docker["nginx_conf"] if docker else None
        override = as_list(service.get("entrypoint")) + as_list(service.get("command"))
        if override:
            conf = option_value(override, "-c") or conf
        if not conf:
            self.fail(at, "cannot tell where nginx reads profiles.conf (-c)")
            return
        conf_dir = os.path.dirname(conf)
        mounts = {}
        for volume in service.get("volumes") or []:
            source, target = volume_source_target(volume)
            mounts[target] = os.path.normpath(os.path.join(compose_dir, source)) \
                if source.startswith((".", "/")) else source
        wanted = {conf: self.path("deploy", "nginx", "profiles.conf")}
        for name in SITE_FILES:
            wanted[os.path.join(conf_dir, name)] = self.path("deploy", "compose", "nginx", name)
        for target, source in wanted.items():
            if mounts.get(target) != os.path.normpath(source):
                self.fail(at, f"does not mount {os.path.relpath(source, self.root)} at {target} "
                              f"(mounts: {mounts})")
        for target in set(mounts) - set(wanted):
            if target.startswith(conf_dir + "/") or target == conf_dir:
                self.fail(at, f"also mounts {target} into nginx's configuration directory")
        published = set()
        for port in service.get("ports") or []:
            published.add(int(str(port.get("target") if isinstance(port, dict) else port)
                              .rsplit(":", 1)[-1].split("/")[0]))
        for kind in ("grpc", "rest"):
            for port in sites[kind + "_listen"]:
                if port not in published:
                    self.fail(at, f"does not publish nginx's {kind} port {port} "
                                  f"(profiles-listen-{kind}.conf); publishes {sorted(published)}")
                if docker and port not in docker["nginx_expose"]:
                    self.fail("deploy/Dockerfile (nginx)", f"does not EXPOSE {port}")
        for kind, port_key in (("grpc", "grpc_port"), ("rest", "http_port")):
            upstreams = sites[kind + "_upstreams"]
            hosts = {host for host, _ in upstreams}
            if hosts != set(replicas):
                self.fail("deploy/compose/nginx", f"{kind} upstreams name {sorted(hosts)}, the "
                                                  f"replicas are {sorted(replicas)}")
            for host, port in upstreams:
                if host in replicas and replicas[host][1].get(port_key) != port:
                    self.fail("deploy/compose/nginx", f"{kind} upstream {host}:{port}, but {host} "
                                                      f"listens on {replicas[host][1].get(port_key)}")

    def check_database_url(self, where, url, services):
        url = substitute_defaults(url or "")
        match = re.match(r"^postgres(?:ql)?://(?:[^@/]*@)?([^:/?]+)(?::(\d+))?/", url)
        if not match:
            self.fail(where, f"DATABASE_URL {url!r} is not a postgresql://host/ URL")
            return
        host, port = match.group(1), int(match.group(2) or 5432)
        if host not in services:
            self.fail(where, f"DATABASE_URL names host {host}, which is no service")
        elif port != 5432:
            self.fail(where, f"DATABASE_URL port {port}; PostgreSQL listens on 5432")

    def check_compose_postgres(self, where, services, replicas):
        """The change feed's logical slot: wal_level=logical, a bound on the WAL a slot keeps, and
        REPLICATION for the role the replicas connect as (given by an init script)."""
        targets = {}
        for _, setup in replicas.values():
            match = re.match(r"^postgres(?:ql)?://(?:([^:@/]+)(?::[^@/]*)?@)?([^:/?]+)",
                             substitute_defaults(setup.get("database_url") or ""))
            if match and match.group(2) in services:
                targets.setdefault(match.group(2), set()).add(match.group(1) or "postgres")
        for host, users in sorted(targets.items()):
            at = f"{where} service {host}"
            service = services[host]
            command = as_list(service.get("entrypoint")) + as_list(service.get("command"))
            settings = {}
            for i, arg in enumerate(command):
                value = None
                if arg == "-c" and i + 1 < len(command):
                    value = str(command[i + 1])
                elif arg.startswith("-c") and len(arg) > 2:
                    value = arg[2:]
                elif arg.startswith("--") and "=" in arg:
                    value = arg[2:]
                if value and "=" in value:
                    key, setting = value.split("=", 1)
                    settings[key.strip().replace("-", "_")] = setting.strip()
            if settings.get("wal_level") != "logical":
                self.fail(at, f"PostgreSQL does not run with wal_level=logical (-c wal_level="
                              f"{settings.get('wal_level', '<default replica>')}); the change "
                              f"feed's logical replication slot needs it")
            keep = settings.get("max_slot_wal_keep_size")
            if keep is None or keep.strip() == "-1":
                self.fail(at, "PostgreSQL has no max_slot_wal_keep_size: a replication slot whose "
                              "reader is gone would keep WAL until the disk is full")
            scripts = []
            for volume in service.get("volumes") or []:
                source, target = volume_source_target(volume)
                if target.startswith("/docker-entrypoint-initdb.d/") and \
                        source.startswith((".", "/")):
                    path = os.path.normpath(os.path.join(self.path("deploy"), source))
                    try:
                        # Without comment lines, which may name the grant without making it.
                        scripts.append(re.sub(r"(?m)^\s*(#|--).*$", "", read(path)))
                    except OSError as e:
                        self.fail(at, f"init script {source}: {e}")
            for user in sorted(users):
                grant = re.compile(r"\b(?:CREATE|ALTER)\s+(?:ROLE|USER)\s+\"?" + re.escape(user) +
                                   r"\"?\s[^;]*\bREPLICATION\b", re.IGNORECASE)
                if not any(grant.search(script) for script in scripts):
                    self.fail(at, f"no init script (/docker-entrypoint-initdb.d) gives role {user} "
                                  f"REPLICATION, which the change feed's logical slot needs")

    def check_key_file_mount(self, where, setup, volumes, services):
        if setup.get("auth") == "off":
            return
        key = setup.get("auth_key_file")
        if not key:
            self.fail(where, "no --auth-key-file / PROFILES_AUTH_KEY_FILE (needed with --auth=on)")
            return
        for volume in volumes:
            source, target = volume_source_target(volume)
            if os.path.dirname(key) == target.rstrip("/"):
                # The volume must be filled by some service that writes that very file.
                for other in services.values():
                    for v in other.get("volumes") or []:
                        s, t = volume_source_target(v)
                        if s == source and not v.endswith(":ro") and \
                                key in " ".join(as_list(other.get("command"))):
                            return
                self.fail(where, f"volume {source} holds {key}, but no service writes that file")
                return
        self.fail(where, f"{key} (the auth key) is in no mounted volume")

    # ---------------------------------------------------------------- Kubernetes

    def check_k8s(self, docker):
        base = self.path("deploy", "k8s")
        objects, secrets = [], {}
        files = []
        for directory, _, names in os.walk(base):
            for name in sorted(names):
                if name.endswith((".yaml", ".yml")):
                    files.append(os.path.join(directory, name))
        kustomizations = {}
        for path in files:
            rel = os.path.relpath(path, self.root)
            try:
                docs = [d for d in yaml.safe_load_all(read(path)) if d]
            except (OSError, yaml.YAMLError) as e:
                self.fail(rel, str(e))
                continue
            if os.path.basename(path) == "kustomization.yaml":
                kustomizations[path] = docs[0] if docs else {}
                continue
            for doc in docs:
                doc["_file"] = rel
                if os.path.basename(path) == "secrets.example.yaml":
                    if doc.get("kind") != "Secret":
                        self.fail(rel, "holds something other than Secrets")
                    data = dict(doc.get("stringData") or {})
                    data.update(doc.get("data") or {})
                    secrets[doc["metadata"]["name"]] = set(data)
                else:
                    objects.append(doc)
        generated = self.check_kustomizations(base, kustomizations, files)

        def of_kind(kind):
            return [o for o in objects if o.get("kind") == kind]

        deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
        services = {s["metadata"]["name"]: s for s in of_kind("Service")}
        configmaps = {c["metadata"]["name"] for c in of_kind("ConfigMap")} | set(generated)
        image_env = docker["runtime"]["env"] if docker else {}

        def where(obj):
            return f"{obj['_file']} {obj['kind']}/{obj['metadata']['name']}"

        server_setups = {}
        for workload in of_kind("Deployment") + of_kind("Job"):
            pod = workload["spec"]["template"]["spec"]
            self.check_pod(where(workload), workload, pod, secrets, configmaps)
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                if container.get("image") != "profiles":
                    continue
                at = f"{where(workload)} container {container.get('name')}"
                env = self.container_env(at, container, secrets)
                setup = self.server_setup(at, as_list(container.get("command"))[1:] +
                                          as_list(container.get("args")), env, image_env)
                setup["env_refs"] = {e["name"]: json.dumps(e.get("valueFrom"), sort_keys=True)
                                     for e in container.get("env", []) if e.get("valueFrom")}
                if container in pod.get("initContainers", []):
                    self.fail(at, "an init container runs profile_server: every new pod would "
                                  "migrate; the migration Job (--migrate-only) does it once")
                    continue
                server_setups[(workload["kind"], workload["metadata"]["name"])] = \
                    (workload, container, setup)

        jobs = [v for k, v in server_setups.items() if k[0] == "Job"]
        servers = [v for k, v in server_setups.items() if k[0] == "Deployment"]
        if not servers:
            self.fail("deploy/k8s", "no Deployment runs the profiles image")
        if not any(s[2].get("migrate_only") for s in jobs):
            self.fail("deploy/k8s", "no Job runs profile_server --migrate-only")
        for workload, container, setup in servers:
            at = f"{where(workload)} container {container.get('name')}"
            if setup.get("migrate_only"):
                self.fail(at, "runs --migrate-only: a Deployment's pods would exit and restart")
            self.check_server_container(at, workload, container, setup, secrets)
            for job, job_container, job_setup in jobs:
                if job_setup.get("migrate_only") and \
                        job_setup["env_refs"].get("DATABASE_URL") != \
                        setup["env_refs"].get("DATABASE_URL"):
                    self.fail(where(job), "takes DATABASE_URL from elsewhere than the replicas")
        for job, container, setup in jobs:
            spec = job["spec"]
            if spec["template"]["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
                self.fail(where(job), "restartPolicy must be Never or OnFailure")
            if int(spec.get("backoffLimit", 6)) < 1:
                self.fail(where(job), "backoffLimit < 1: one refused connection fails the rollout")
        try:
            if "pg_advisory_xact_lock" not in read(self.path("services", "profile", "storage",
                                                             "migrator.cc")):
                self.fail("services/profile/storage/migrator.cc",
                          "takes no advisory lock: replicas migrating at start would race; "
                          "deploy/README.md and the manifests rely on it")
        except OSError as e:
            self.fail("services/profile/storage/migrator.cc", str(e))

        # Services, HPA and PDB select the workloads they are meant for.
        service_backends = {}
        for service in services.values():
            selector = service["spec"].get("selector") or {}
            matched = [d for d in deployments.values()
                       if selector and labels_match(selector, template_labels(d))]
            if len(matched) != 1:
                self.fail(where(service), f"selects {len(matched)} Deployments; one is expected")
                continue
            deployment = matched[0]
            ports = container_ports(deployment)
            backend = {}
            for port in service["spec"].get("ports", []):
                target = port.get("targetPort", port.get("port"))
                resolved = ports.get(target) if isinstance(target, str) else \
                    (target if target in ports.values() else None)
                if resolved is None:
                    self.fail(where(service), f"port {port.get('name')} targets {target!r}, which "
                                              f"{deployment['metadata']['name']} does not expose "
                                              f"({ports})")
                backend[port["port"]] = resolved
            service_backends[service["metadata"]["name"]] = (deployment, backend)

        hpa_targets = set()
        for hpa in of_kind("HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            target = deployments.get(ref.get("name")) if ref.get("kind") == "Deployment" else None
            if target is None:
                self.fail(where(hpa), f"scales {ref.get('kind')}/{ref.get('name')}, which is not "
                                      f"here")
                continue
            hpa_targets.add(ref["name"])
            if int(hpa["spec"].get("minReplicas", 1)) < 2:
                self.fail(where(hpa), "minReplicas < 2: one replica is a single point of failure")
            if "replicas" in target["spec"]:
                self.fail(where(target), "sets replicas although an HPA owns the count (every "
                                         "apply would reset it)")
            self.check_connection_budget(where(hpa), hpa, target, server_setups)
        for pdb in of_kind("PodDisruptionBudget"):
            selector = pdb["spec"].get("selector") or {}
            matched = [d for d in deployments.values()
                       if labels_match(selector, template_labels(d))]
            if len(matched) != 1:
                self.fail(where(pdb), f"selects {len(matched)} Deployments; one is expected")
            if "minAvailable" not in pdb["spec"] and "maxUnavailable" not in pdb["spec"]:
                self.fail(where(pdb), "has neither minAvailable nor maxUnavailable")
        for name, deployment in deployments.items():
            if not any(labels_match(p["spec"].get("selector") or {}, template_labels(deployment))
                       for p in of_kind("PodDisruptionBudget")):
                self.fail(where(deployment), "has no PodDisruptionBudget")
            if not labels_match(deployment["spec"]["selector"], template_labels(deployment)):
                self.fail(where(deployment), "its selector does not match its pod labels")

        self.check_k8s_balancer(deployments, service_backends, server_setups, docker)

    def check_kustomizations(self, base, kustomizations, files):
        """Returns the names of the ConfigMaps the kustomizations generate."""
        generated = {}
        listed = set()
        images = {}
        for path, kustomization in kustomizations.items():
            rel = os.path.relpath(path, self.root)
            directory = os.path.dirname(path)
            for resource in kustomization.get("resources") or []:
                full = os.path.normpath(os.path.join(directory, resource))
                if not os.path.isfile(full):
                    self.fail(rel, f"lists {resource}, which does not exist")
                listed.add(full)
            for generator in kustomization.get("configMapGenerator") or []:
                names = []
                for entry in generator.get("files") or []:
                    key, _, source = entry.rpartition("=") if "=" in entry else ("", "", entry)
                    full = os.path.normpath(os.path.join(directory, source))
                    if not os.path.isfile(full):
                        self.fail(rel, f"configMapGenerator {generator['name']} reads {source}, "
                                       f"which does not exist")
                    names.append(key or os.path.basename(source))
                generated[generator["name"]] = names
            for image in kustomization.get("images") or []:
                images.setdefault(image["name"], set()).add(
                    (image.get("newName"), image.get("newTag"), image.get("digest")))
        for name, variants in images.items():
            if len(variants) > 1:
                self.fail("deploy/k8s", f"the kustomizations map image {name} differently: "
                                        f"{sorted(map(str, variants))} (the Job must run the "
                                        f"replicas' build)")
        for path in files:
            if os.path.basename(path) in ("kustomization.yaml", "secrets.example.yaml"):
                continue
            if os.path.normpath(path) not in listed:
                self.fail(os.path.relpath(path, self.root), "is in no kustomization.yaml")
        if self.system.kubectl:
            for path in kustomizations:
                directory = os.path.dirname(path)
                result = subprocess.run([self.system.kubectl, "kustomize", directory],
                                        capture_output=True, text=True, timeout=120)
                if result.returncode != 0:
                    self.fail(os.path.relpath(directory, self.root),
                              "kubectl kustomize failed: " + result.stderr.strip()[-2000:])
        else:
            self.note("SKIPPED: kubectl kustomize (no kubectl here)")
        return generated

    def container_env(self, where, container, secrets):
        env = {}
        if container.get("envFrom"):
            self.fail(where, "envFrom: this check (and a reader) cannot see which variables it "
                             "sets; list them under env")
        for item in container.get("env", []):
            name = item["name"]
            source = item.get("valueFrom")
            if source is None:
                env[name] = str(item.get("value", ""))
                continue
            ref = source.get("secretKeyRef")
            if ref:
                if ref.get("key") not in secrets.get(ref.get("name"), set()):
                    self.fail(where, f"{name} reads Secret {ref.get('name')} key {ref.get('key')}, "
                                     f"which deploy/k8s/secrets.example.yaml does not describe")
                env[name] = f"<secret {ref.get('name')}/{ref.get('key')}>"
            else:
                env[name] = "<from elsewhere>"
        return env

    def check_pod(self, where, workload, pod, secrets, configmaps):
        security = pod.get("securityContext") or {}
        if security.get("runAsNonRoot") is not True or security.get("runAsUser") in (0, None):
            self.fail(where, "the pod does not run as a non-root user (runAsNonRoot, runAsUser)")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for volume in volumes.values():
            if "secret" in volume:
                name = volume["secret"].get("secretName")
                keys = secrets.get(name)
                if keys is None:
                    self.fail(where, f"volume {volume['name']} mounts Secret {name}, which "
                                     f"deploy/k8s/secrets.example.yaml does not describe")
                for item in volume["secret"].get("items", []):
                    if keys is not None and item["key"] not in keys:
                        self.fail(where, f"volume {volume['name']} wants key {item['key']} of "
                                         f"Secret {name}, which has {sorted(keys)}")
            if "configMap" in volume and volume["configMap"].get("name") not in configmaps:
                self.fail(where, f"volume {volume['name']} mounts ConfigMap "
                                 f"{volume['configMap'].get('name')}, which nothing makes")
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            at = f"{where} container {container.get('name')}"
            requests = (container.get("resources") or {}).get("requests") or {}
            for resource in ("cpu", "memory"):
                if resource not in requests:
                    self.fail(at, f"no {resource} request")
            csec = container.get("securityContext") or {}
            if csec.get("allowPrivilegeEscalation") is not False:
                self.fail(at, "allowPrivilegeEscalation is not false")
            if "ALL" not in ((csec.get("capabilities") or {}).get("drop") or []):
                self.fail(at, "does not drop ALL capabilities")
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    self.fail(at, f"mounts volume {mount['name']}, which the pod does not have")

    def check_server_container(self, where, workload, container, setup, secrets):
        pod = workload["spec"]["template"]["spec"]
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for key in ("grpc_port", "http_port"):
            if key in setup and setup[key] not in ports.values():
                self.fail(where, f"containerPorts {ports} lack the {key} {setup[key]} its "
                                 f"flags/environment set")
        grpc_port = setup.get("grpc_port")
        for probe_name, service in (("readinessProbe", GRPC_READY_SERVICE), ("livenessProbe", "")):
            probe = container.get(probe_name) or {}
            grpc = probe.get("grpc")
            if not grpc:
                self.fail(where, f"{probe_name} is not a gRPC health probe")
                continue
            if grpc.get("port") != grpc_port:
                self.fail(where, f"{probe_name} asks port {grpc.get('port')}; gRPC listens on "
                                 f"{grpc_port}")
            if (grpc.get("service") or "") != service:
                self.fail(where, f"{probe_name} asks health of {grpc.get('service')!r}, not "
                                 f"{service!r}")
        grace = duration_seconds(setup.get("shutdown_grace", "10s"))
        pre_stop = 0.0
        hook = ((container.get("lifecycle") or {}).get("preStop") or {})
        command = as_list((hook.get("exec") or {}).get("command"))
        if command[:1] == ["sleep"] and len(command) == 2:
            pre_stop = duration_seconds(command[1] if not command[1].isdigit() else command[1] + "s")
        elif hook.get("sleep"):
            pre_stop = float(hook["sleep"].get("seconds", 0))
        termination = float(pod.get("terminationGracePeriodSeconds", 30))
        if termination < pre_stop + grace + 2:
            self.fail(where, f"terminationGracePeriodSeconds {termination:g} leaves no room for "
                             f"preStop {pre_stop:g}s + --shutdown-grace {grace:g}s before SIGKILL")
        memory = quantity_bytes(((container.get("resources") or {}).get("requests") or {})
                                .get("memory", "0"))
        if memory <= int(setup.get("cache_bytes", 0)):
            self.fail(where, f"memory request {memory} bytes does not exceed --cache-bytes "
                             f"{setup.get('cache_bytes')}")
        if setup.get("auth") != "off":
            key = setup.get("auth_key_file") or ""
            mounts = {m["mountPath"].rstrip("/"): m for m in container.get("volumeMounts", [])}
            mount = mounts.get(os.path.dirname(key))
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            volume = volumes.get(mount["name"]) if mount else None
            if not key:
                self.fail(where, "no PROFILES_AUTH_KEY_FILE / --auth-key-file")
            elif not volume or "secret" not in volume:
                self.fail(where, f"the auth key {key} is not in a mounted Secret")
            else:
                items = volume["secret"].get("items")
                names = {i["path"] for i in items} if items else \
                    secrets.get(volume["secret"].get("secretName"), set())
                if os.path.basename(key) not in names:
                    self.fail(where, f"the Secret volume at {os.path.dirname(key)} holds "
                                     f"{sorted(names)}, not {os.path.basename(key)}")
        if "DATABASE_URL" not in setup.get("env_refs", {}):
            self.fail(where, "DATABASE_URL is not taken from a Secret")

    def check_connection_budget(self, where, hpa, deployment, server_setups):
        budget = (hpa["metadata"].get("annotations") or {}) \
            .get("profiles.example.com/postgres-connection-budget")
        if budget is None:
            self.fail(where, "no profiles.example.com/postgres-connection-budget annotation "
                             "(PostgreSQL's max_connections minus what is kept for others)")
            return
        setup = server_setups.get(("Deployment", deployment["metadata"]["name"]))
        if not setup:
            return
        pool = int(setup[2].get("pool_size", 16))
        max_replicas = int(hpa["spec"]["maxReplicas"])
        surge = ((deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}) \
            .get("maxSurge", "25%")
        surge = -(-max_replicas * int(surge[:-1]) // 100) if isinstance(surge, str) else int(surge)
        jobs = sum(1 for k, v in server_setups.items() if k[0] == "Job" and v[2]["migrate_only"])
        # Per replica: the pool, the change feed's LISTEN connection, the WAL sequencer's (held
        # by every replica, elected or waiting) and one short-lived one (the start-up migration
        # check, the idempotency pruner's pass); one per migration Job.
        needed = (max_replicas + surge) * (pool + 3) + jobs
        if needed > int(budget):
            self.fail(where, f"({max_replicas} replicas + {surge} surge) x (pool {pool} + 3) + "
                             f"{jobs} = {needed} PostgreSQL connections, over the budget {budget}")

    def check_k8s_balancer(self, deployments, service_backends, server_setups, docker):
        sites = self.read_sites(self.path("deploy", "k8s", "nginx"))
        self.nginx_syntax(sites)
        lbs = [d for d in deployments.values()
               if any(c.get("image") == "profiles-nginx"
                      for c in d["spec"]["template"]["spec"].get("containers", []))]
        if len(lbs) != 1:
            self.fail("deploy/k8s", f"{len(lbs)} Deployments run profiles-nginx; one balancer "
                                    f"Deployment is expected (a Service alone balances gRPC per "
                                    f"connection)")
            return
        lb = lbs[0]
        at = f"{lb['_file']} Deployment/{lb['metadata']['name']}"
        container = [c for c in lb["spec"]["template"]["spec"]["containers"]
                     if c.get("image") == "profiles-nginx"][0]
        conf = docker["nginx_conf"] if docker else None
        override = as_list(container.get("command")) + as_list(container.get("args"))
        if override:
            conf = option_value(override, "-c") or conf
        if not conf:
            self.fail(at, "cannot tell where nginx reads profiles.conf (-c)")
            return
        volumes = {v["name"]: v for v in lb["spec"]["template"]["spec"].get("volumes", [])}
        mounted = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            if "configMap" in volume:
                mounted[mount["mountPath"]] = (volume["configMap"]["name"], mount.get("subPath"))
        for name in SITE_FILES:
            target = os.path.join(os.path.dirname(conf), name)
            if mounted.get(target, (None, None))[1] != name:
                self.fail(at, f"does not mount {name} (ConfigMap subPath) at {target}, beside "
                              f"profiles.conf")
        if conf in mounted:
            self.fail(at, f"mounts over {conf}: the image's copy is deploy/nginx/profiles.conf")
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for kind in ("grpc", "rest"):
            for port in sites[kind + "_listen"]:
                if port not in ports.values():
                    self.fail(at, f"does not expose nginx's {kind} port {port} ({ports})")
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = container.get(probe_name) or {}
            port = (probe.get("tcpSocket") or probe.get("httpGet") or {}).get("port")
            if port is None or (port not in ports.values() and port not in ports):
                self.fail(at, f"{probe_name} port {port} is not one nginx listens on")
        # The upstreams: the replicas' Service, on ports whose targets are the replicas' ports.
        servers = [v for k, v in server_setups.items() if k[0] == "Deployment"]
        if not servers:
            return
        server_deployment, _, setup = servers[0]
        for kind, key in (("grpc", "grpc_port"), ("rest", "http_port")):
            for host, port in sites[kind + "_upstreams"]:
                service = host.split(".")[0]
                backend = service_backends.get(service)
                if backend is None:
                    self.fail("deploy/k8s/nginx", f"{kind} upstream {host}:{port} names no Service")
                    continue
                deployment, ports_map = backend
                if deployment is not server_deployment:
                    self.fail("deploy/k8s/nginx", f"{kind} upstream {host} is not the replicas' "
                                                  f"Service")
                elif ports_map.get(port) != setup.get(key):
                    self.fail("deploy/k8s/nginx", f"{kind} upstream {host}:{port} reaches container "
                                                  f"port {ports_map.get(port)}; the replicas' "
                                                  f"{kind} port is {setup.get(key)}")
        lb_service = [name for name, (d, _) in service_backends.items() if d is lb]
        if not lb_service:
            self.fail(at, "no Service selects the balancer")

    # ---------------------------------------------------------------- all

    def run(self):
        docker = self.check_dockerfile()
        if docker:
            self.check_runtime_packages(docker["runtime"])
        self.check_profiles_conf()
        self.check_compose(docker)
        self.check_k8s(docker)
        return not self.problems


# -------------------------------------------------------------------- parsing helpers

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def as_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def option_value(argv, option):
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
    return None


def port_of(address):
    return int(str(address).rsplit(":", 1)[1])


def duration_seconds(text):
    """absl / compose durations: 10s, 1m30s, 500ms, 1h."""
    text = str(text).strip()
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def quantity_bytes(text):
    match = re.match(r"^(\d+(?:\.\d+)?)([KMGT]i?|[kMGT])?$", str(text))
    if not match:
        return 0
    factor = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
              "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}.get(match.group(2), 1)
    return int(float(match.group(1)) * factor)


def substitute_defaults(text):
    """compose's ${VAR:-default} / ${VAR-default} / ${VAR}, with the defaults."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", text)


def compose_env(environment):
    if isinstance(environment, dict):
        return {k: "" if v is None else str(v) for k, v in environment.items()}
    env = {}
    for item in environment or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


def volume_source_target(volume):
    if isinstance(volume, dict):
        return str(volume.get("source", "")), str(volume.get("target", ""))
    parts = str(volume).split(":")
    return parts[0], parts[1] if len(parts) > 1 else parts[0]


def labels_match(selector, labels):
    match = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def template_labels(deployment):
    return deployment["spec"]["template"]["metadata"].get("labels") or {}


def container_ports(deployment):
    ports = {}
    for container in deployment["spec"]["template"]["spec"].get("containers", []):
        for port in container.get("ports", []):
            ports[port.get("name") or str(port["containerPort"])] = port["containerPort"]
    return ports


def strip_nginx_comments(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def listen_ports(text):
    ports = []
    for match in re.finditer(r"^\s*listen\s+([^\s;]+)", strip_nginx_comments(text), re.M):
        ports.append(int(match.group(1).rsplit(":", 1)[-1]))
    return ports


def upstream_servers(text):
    servers = []
    for match in re.finditer(r"^\s*server\s+([^\s;]+)", strip_nginx_comments(text), re.M):
        host, _, port = match.group(1).rpartition(":")
        servers.append((host, int(port)))
    return servers


def parse_setup_packages(path):
    text = read(path)
    match = re.search(r"^PACKAGES=\((.*?)^\)", text, re.M | re.S)
    if not match:
        raise ValueError("no PACKAGES=( ... ) list")
    return [t for line in match.group(1).splitlines()
            for t in line.split("#", 1)[0].split()]


def parse_dockerfile(path):
    """Stages of a Dockerfile: name, packages apt-get installs, USER, ENV, ENTRYPOINT, ..."""
    logical, current = [], ""
    for raw in read(path).splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            logical.append(current.strip())
        current = ""
    stages = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append({"name": name, "base": words[0], "packages": [], "user": None,
                           "env": {}, "entrypoint": None, "cmd": None, "expose": [], "runs": [],
                           "copies": [], "copies_from": {}, "text": ""})
            continue
        if not stages:
            continue
        stage = stages[-1]
        stage["text"] += line + "\n"
        if keyword == "RUN":
            stage["runs"].append(rest)
            for segment in re.split(r"&&|;|\|\|", rest):
                words = shlex.split(segment)
                if "apt-get" in words and "install" in words:
                    after = words[words.index("install") + 1:]
                    stage["packages"] += [w for w in after if not w.startswith("-")]
        elif keyword == "USER":
            stage["user"] = rest
        elif keyword == "ENV":
            words = shlex.split(rest)
            if words and "=" not in words[0]:
                stage["env"][words[0]] = " ".join(words[1:])
            else:
                for word in words:
                    key, _, value = word.partition("=")
                    stage["env"][key] = value
        elif keyword in ("ENTRYPOINT", "CMD"):
            value = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            stage["entrypoint" if keyword == "ENTRYPOINT" else "cmd"] = value
        elif keyword == "EXPOSE":
            stage["expose"] += [int(p.split("/")[0]) for p in rest.split()]
        elif keyword == "COPY":
            words = shlex.split(rest)
            source_stage = None
            while words and words[0].startswith("--"):
                if words[0].startswith("--from="):
                    source_stage = words[0][len("--from="):]
                words.pop(0)
            if len(words) >= 2:
                pairs = [(src, words[-1]) for src in words[:-1]]
                if source_stage:
                    stage["copies_from"].setdefault(source_stage, []).extend(pairs)
                else:
                    stage["copies"].extend(pairs)
    return stages


# -------------------------------------------------------------------- the binaries and the system

class HelpInfo:
    """Flags (and their variables) of a binary, from its --helpfull."""

    def __init__(self, binary):
        self.binary = binary
        self.program = os.path.basename(binary)
        result = subprocess.run([binary, "--helpfull"], capture_output=True, text=True, timeout=60)
        text = result.stdout + result.stderr
        self.flags = {}
        current = None
        for line in text.splitlines():
            match = re.match(r"^    --([A-Za-z0-9_]+) \((.*)$", line)
            if match:
                current = match.group(1)
                self.flags[current] = {"help": match.group(2)}
            elif current and line.startswith("      "):
                self.flags[current]["help"] += " " + line.strip()
            else:
                current = None
        if not self.flags:
            sys.exit(f"deploy_check: {binary} --helpfull listed no flags:\n{text[:2000]}")
        self.env = {}
        self.env_of = {}
        for name, flag in self.flags.items():
            default = re.search(r"; default: (.*?);?$", flag["help"])
            value = default.group(1).strip() if default else ""
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            flag["default"] = value
            flag["bool"] = value in ("true", "false")
            for variable in re.findall(r"\(env ([A-Z][A-Z0-9_]*)", flag["help"]):
                self.env[variable] = name
                self.env_of[name] = variable


class Dpkg:
    """Installed packages, their dependencies and the base image's packages."""

    def __init__(self):
        fmt = "${Package}\\t${Status}\\t${Essential}\\t${Priority}\\t${Provides}\\t" \
              "${Pre-Depends}\\t${Depends}\\n"
        out = subprocess.run(["dpkg-query", "-W", "-f=" + fmt], capture_output=True, text=True,
                             check=True).stdout
        self.installed = set()
        self.depends = {}
        self.providers = {}
        self.base = set()
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) < 7 or not fields[1].endswith(" installed"):
                continue
            name = fields[0]
            self.installed.add(name)
            if fields[2] == "yes" or fields[3] == "required":
                self.base.add(name)
            for provided in fields[4].split(","):
                provided = provided.strip().split(" ")[0]
                if provided:
                    self.providers.setdefault(provided, []).append(name)
            alternatives = []
            for dep in (fields[5] + "," + fields[6]).split(","):
                choices = [c.strip().split(" ")[0].split(":")[0] for c in dep.split("|")]
                choices = [c for c in choices if c]
                if choices:
                    alternatives.append(choices)
            self.depends[name] = alternatives

    def resolve(self, name):
        if name in self.installed:
            return name
        for provider in self.providers.get(name, []):
            if provider in self.installed:
                return provider
        return None

    def closure(self, packages):
        seen = set()
        todo = [p for p in packages if p in self.installed]
        while todo:
            package = todo.pop()
            if package in seen:
                continue
            seen.add(package)
            for choices in self.depends.get(package, []):
                for choice in choices:
                    resolved = self.resolve(choice)
                    if resolved:
                        todo.append(resolved)
                        break
        return seen


class SystemInfo:
    def __init__(self):
        self.nginx = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and
                                               "/usr/sbin/nginx") or None
        self.kubectl = shutil.which("kubectl")
        self.dpkg = None
        if shutil.which("dpkg-query") and shutil.which("dpkg") and shutil.which("ldd"):
            try:
                self.dpkg = Dpkg()
            except (subprocess.CalledProcessError, OSError):
                self.dpkg = None
        self._ldd = {}
        self._apt = {}

    def ldd_packages(self, binary):
        """{library path: Debian package} of what `ldd binary` resolves."""
        if binary in self._ldd:
            return self._ldd[binary]
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
        # The sanitizers' run-time libraries are left out: the image is built without them (the
        # Dockerfile configures Release), while CI's second pass checks a sanitized profile_server.
        libraries = [library for library in re.findall(r"=>\s+(/\S+)", out)
                     if not SANITIZER_RUNTIME.match(os.path.basename(library))]
        # /lib is a link to /usr/lib on Debian 12: dpkg knows one of the spellings.
        candidates = {}
        for library in libraries:
            paths = [library, os.path.realpath(library)]
            for path in list(paths):
                if path.startswith("/usr/lib/"):
                    paths.append(path[len("/usr"):])
                elif path.startswith("/lib/"):
                    paths.append("/usr" + path)
            candidates[library] = paths
        owners = {}
        every = sorted({p for paths in candidates.values() for p in paths})
        result = subprocess.run(["dpkg", "-S"] + every, capture_output=True, text=True)
        for line in result.stdout.splitlines():
            package, _, path = line.partition(": ")
            owners[path.strip()] = package.split(",")[0].split(":")[0].strip()
        packages = {library: next((owners[p] for p in paths if p in owners), None)
                    for library, paths in candidates.items()}
        self._ldd[binary] = packages
        return packages

    def apt_knows(self, package):
        """True / False, or None when apt-cache cannot tell."""
        if package not in self._apt:
            if not shutil.which("apt-cache"):
                self._apt[package] = None
            else:
                result = subprocess.run(["apt-cache", "show", "--no-all-versions", package],
                                        capture_output=True, text=True)
                self._apt[package] = result.returncode == 0 and "Package:" in result.stdout
        return self._apt[package]


# -------------------------------------------------------------------- self-test

# (file, text in it, replacement, what the check must then say[, the tool that check needs]).
# Each breaks one thing.
MUTATIONS = [
    ("deploy/k8s/server-deployment.yaml", "service: profile.v1.ProfileService",
     "service: profile.v1.Other", "readinessProbe asks health of"),
    ("deploy/k8s/server-deployment.yaml", 'service: ""', "service: profile.v1.ProfileService",
     "livenessProbe asks health of"),
    ("deploy/k8s/server-deployment.yaml", "--cache-bytes=134217728", "--cache-megabytes=128",
     "has no flag --cache_megabytes"),
    ("deploy/k8s/server-deployment.yaml", "name: PROFILES_POOL_SIZE", "name: PROFILES_POOLSIZE",
     "PROFILES_POOLSIZE is not read"),
    ("deploy/k8s/server-deployment.yaml", "value: 0.0.0.0:50051", "value: 0.0.0.0:50052",
     "lack the grpc_port 50052"),
    ("deploy/k8s/server-deployment.yaml", "secretName: profiles-auth-key",
     "secretName: profiles-authkey", "Secret profiles-authkey"),
    ("deploy/k8s/server-deployment.yaml", "              cpu: 250m\n", "",
     "no cpu request"),
    ("deploy/k8s/server-deployment.yaml", "terminationGracePeriodSeconds: 30",
     "terminationGracePeriodSeconds: 20", "leaves no room"),
    ("deploy/k8s/server-deployment.yaml", 'value: "14"', 'value: "16"', "over the budget"),
    ("deploy/k8s/migrate/job.yaml", 'args: ["--migrate-only"]', 'args: []',
     "no Job runs profile_server --migrate-only"),
    ("deploy/k8s/server-pdb.yaml", "matchLabels:\n      app.kubernetes.io/name: profiles\n"
     "      app.kubernetes.io/component: server", "matchLabels:\n      app.kubernetes.io/name: "
     "profiles\n      app.kubernetes.io/component: sever", "selects 0 Deployments"),
    ("deploy/k8s/server-hpa.yaml", "kind: Deployment\n    name: profiles-server",
     "kind: Deployment\n    name: profile-server", "scales Deployment/profile-server"),
    ("deploy/k8s/server-service.yaml", "targetPort: grpc", "targetPort: grpc-web",
     "targets 'grpc-web'"),
    ("deploy/k8s/nginx/profiles-grpc-upstreams.conf", "server profiles-server:50051 max_fails=0;\n"
     "server profiles-server:50051", "server profiles-server:8080 max_fails=0;\n"
     "server profiles-server:8080", "grpc upstream profiles-server:8080 reaches container port"),
    ("deploy/compose/nginx/profiles-rest-upstreams.conf", "profile-2:8080", "profile-2:8081",
     "rest upstream profile-2:8081"),
    ("deploy/compose/nginx/profiles-listen-grpc.conf", "listen 50051 http2;", "listen 50051;",
     "lacks http2"),
    ("deploy/compose.yaml", "./nginx/profiles.conf:", "./compose/nginx/profiles.conf:",
     "does not mount deploy/nginx/profiles.conf"),
    ("deploy/compose.yaml", 'command: ["--migrate-only"]', 'command: ["--migrate"]',
     "has no flag --migrate"),
    ("deploy/compose.yaml", "stop_grace_period: 15s\n  restart", "stop_grace_period: 5s\n  restart",
     "does not exceed --shutdown-grace"),
    ("deploy/Dockerfile", "USER 10001:10001", "USER root", "runs as root"),
    ("deploy/Dockerfile", "      libprometheus-cpp-core1.0 \\\n",
     "      libprometheus-cpp-core1.0 gcc \\\n", "installs gcc, a compiler"),
    ("deploy/Dockerfile", " libpqxx-6.4 libpq5", " libpq5", "libpqxx-6.4", "dpkg"),
    ("deploy/k8s/nginx/profiles-rest-upstreams.conf", "server profiles-server:8080 max_fails=0;",
     "server profiles-server:8080 max_fails=none;", "nginx -t", "nginx"),
    ("deploy/compose.yaml", "PROFILES_AUTH_KEY_FILE: /var/lib/profiles/auth/profiles.key",
     "PROFILES_AUTH_KEY_FILE: /var/lib/profiles/auth/key", "no service writes that file"),
    ("deploy/compose.yaml", "migrate:\n      condition: service_completed_successfully",
     "migrate:\n      condition: service_started", "does not wait for migrate"),
    ("deploy/Dockerfile", " libjwt-dev", "", "does not install libjwt-dev"),
    ("deploy/Dockerfile", "COPY bench bench\n", "", "does not COPY bench"),
    ("deploy/compose.yaml", '"-c", "wal_level=logical",', "", "wal_level=logical"),
    ("deploy/compose.yaml", '"-c", "max_slot_wal_keep_size=1GB"', '"-c", "max_slot_wal_keep_size=-1"',
     "no max_slot_wal_keep_size"),
    ("deploy/compose/postgres/10-profiles-role.sh", "LOGIN REPLICATION PASSWORD",
     "LOGIN PASSWORD", "gives role profiles REPLICATION"),
]


def self_test(root, server, ctl, system):
    failures = []
    with tempfile.TemporaryDirectory(prefix="deploy-check-self-test-") as tmp:
        for part in ("deploy", "CMakeLists.txt", "tests/CMakeLists.txt",
                     "services/profile/storage/migrator.cc"):
            source, target = os.path.join(root, part), os.path.join(tmp, part)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, target)
        baseline = Checker(tmp, server, ctl, system)
        if not baseline.run():
            return ["the unbroken copy fails:"] + baseline.problems
        for number, (path, old, new, expected, *tool) in enumerate(MUTATIONS, 1):
            if tool and not {"dpkg": system.dpkg, "nginx": system.nginx}[tool[0]]:
                print(f"self-test {number:2}: skipped (no {tool[0]} here)")
                continue
            full = os.path.join(tmp, path)
            original = read(full)
            if old not in original:
                failures.append(f"mutation {number}: {path} no longer contains {old!r}; update "
                                f"MUTATIONS")
                continue
            with open(full, "w") as out:
                out.write(original.replace(old, new, 1))
            checker = Checker(tmp, server, ctl, system)
            checker.run()
            caught = [p for p in checker.problems if expected in p]
            print(f"self-test {number:2}: {path}: {old.strip()[:40]!r} -> {new.strip()[:40]!r}: " +
                  ("caught: " + caught[0].splitlines()[0] if caught else "NOT CAUGHT"))
            if not caught:
                failures.append(f"mutation {number} ({path}: {old!r} -> {new!r}) was not caught "
                                f"as {expected!r}; problems: {checker.problems}")
            with open(full, "w") as out:
                out.write(original)
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--profile-server", required=True)
    parser.add_argument("--profilectl", required=True)
    parser.add_argument("--self-test", action="store_true",
                        help="break copies of the files and check that each breakage is caught")
    args = parser.parse_args()
    server = HelpInfo(args.profile_server)
    ctl = HelpInfo(args.profilectl)
    system = SystemInfo()
    if args.self_test:
        failures = self_test(os.path.abspath(args.source_dir), server, ctl, system)
        for failure in failures:
            print("FAIL: " + failure)
        print(f"deploy_check self-test: {len(MUTATIONS)} breakages, "
              f"{'all caught' if not failures else f'{len(failures)} problem(s)'}")
        return 1 if failures else 0
    checker = Checker(os.path.abspath(args.source_dir), server, ctl, system)
    ok = checker.run()
    for note in checker.notes:
        print("note: " + note)
    for problem in checker.problems:
        print("FAIL: " + problem)
    print(f"deploy_check: {len(checker.problems)} problem(s) "
          f"({len(server.flags)} profile_server flags, {len(server.env)} variables known)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
