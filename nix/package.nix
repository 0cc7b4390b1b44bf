# hiboss itself: the TypeScript build (dist/) with its runtime node_modules.
{ lib, buildNpmPackage, nodejs_20, makeWrapper }:
let
  root = ../.;
  packageJson = lib.importJSON (root + "/package.json");
in
buildNpmPackage {
  pname = "hiboss";
  inherit (packageJson) version;

  # Only what the build reads, so editing a test or a Nix file does not rebuild hiboss.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions (
      [ (root + "/package.json") (root + "/package-lock.json") (root + "/tsconfig.json") (root + "/bin") ]
      ++ map (dir: lib.fileset.maybeMissing (root + "/${dir}"))
        [ "transport" "wm-ipc" "qmp" "daemon" "api" "cli" "bar-module" "panel" "networks" "test" "bench" ]
    );
  };

  nodejs = nodejs_20;

  # Pins package-lock.json's dependencies. After changing the lock file, set
  # this to lib.fakeHash, run `nix build`, and paste the hash it reports
  # ("got: sha256-…"). It is a placeholder until the first online build.
  npmDepsHash = lib.fakeHash;

  npmBuildScript = "build";
  nativeBuildInputs = [ makeWrapper ];

  # npm's own install would pack by .gitignore, which excludes dist/; install
  # the build output and the production dependencies directly instead.
  installPhase = ''
    runHook preInstall
    npm prune --omit=dev --no-audit --no-fund
    mkdir -p $out/lib/hiboss $out/bin
    cp -r package.json bin dist node_modules $out/lib/hiboss/
    makeWrapper ${lib.getExe nodejs_20} $out/bin/hiboss --add-flags $out/lib/hiboss/bin/hiboss
    runHook postInstall
  '';

  meta = {
    description = packageJson.description;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "hiboss";
  };
}
