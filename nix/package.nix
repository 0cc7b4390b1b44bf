# hiboss itself: the TypeScript build (dist/) with its runtime node_modules.
{ lib, buildNpmPackage, importNpmLock, nodejs_20, makeWrapper }:
let
  root = ../.;
  packageJson = lib.importJSON (root + "/package.json");
  # The TypeScript sources are the directories tsc compiles: one list, tsconfig.json's.
  sourceDirs = (lib.importJSON (root + "/tsconfig.json")).include;
  # bin/hiboss's shebang carries node's flags (V8's sizing for a session-long daemon):
  # the wrapper runs node itself, so it passes them.
  nodeFlags = import ./lib/node-flags.nix (root + "/bin/hiboss");
in
buildNpmPackage {
  pname = "hiboss";
  inherit (packageJson) version;

  # Only what the build reads and the package ships, so editing a Nix file or the README does not rebuild hiboss.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions (map (file: root + "/${file}") ([ "package.json" "package-lock.json" "tsconfig.json" "bin" "packaging" "nix/vm-image.nix" ] ++ sourceDirs));
  };

  nodejs = nodejs_20;

  # package-lock.json's dependencies, each fetched by the URL and integrity hash
  # the lock file records (nixpkgs' importNpmLock; its interface as relied on is
  # recorded in nix/upstream/import-npm-lock.json): no npmDepsHash to keep.
  npmDeps = importNpmLock {
    package = packageJson;
    packageLock = lib.importJSON (root + "/package-lock.json");
  };
  npmConfigHook = importNpmLock.npmConfigHook;

  npmBuildScript = "build";
  nativeBuildInputs = [ makeWrapper ];

  # What `npm install -g` would put in place: package.json's "files" (the build, the
  # systemd units, the bar's config and style, the .desktop file), packed by npm from
  # that one list, and the production dependencies.
  installPhase = ''
    runHook preInstall
    npm pack --ignore-scripts --pack-destination "$TMPDIR" --no-audit --no-fund
    npm prune --omit=dev --no-audit --no-fund
    mkdir -p $out/lib/hiboss $out/bin
    tar -xzf "$TMPDIR"/${packageJson.name}-${packageJson.version}.tgz -C $out/lib/hiboss --strip-components=1
    cp -r node_modules $out/lib/hiboss/
    makeWrapper ${lib.getExe nodejs_20} $out/bin/hiboss \
      --add-flags "${lib.escapeShellArgs nodeFlags} $out/lib/hiboss/bin/hiboss"
    runHook postInstall
  '';

  meta = {
    description = packageJson.description;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "hiboss";
  };
}
