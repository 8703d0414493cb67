// Runs the Microsoft 365 Agents Toolkit's own offline checks on this repository's Toolkit files.
//
// The Toolkit CLI has no command for these, so this calls the code its commands run, from the
// pinned @microsoft/teamsfx-core in node_modules (the same version the CLI bundles):
//   node toolkit/check.js yaml FILE...              each m365agents*.yml against the bundled yaml schema
//                                                   (what `atk provision/deploy` check before running),
//                                                   with the file as the Toolkit parses it
//   node toolkit/check.js aad MANIFEST OUTPUT       aad.manifest.json as `aadApp/update` builds it
//                                                   before sending it to Microsoft Graph (permission
//                                                   names resolved to ids); ${{VARS}} from the environment
//   node toolkit/check.js deploy-zip DIR IGNORE ZIP the zip `azureAppService/zipDeploy` uploads: DIR
//                                                   packed with the ignore file's rules
// Each prints one JSON document on stdout; tests/test_toolkit.py reads it. These are internal
// modules of teamsfx-core, not a published API: a Toolkit upgrade may move them, and the tests say so.
"use strict";

const path = require("path");

const core = "@microsoft/teamsfx-core/build/component/";

async function yaml(files) {
  const jsYaml = require("js-yaml");
  const fs = require("fs");
  const { yamlParser } = require(core + "configManager/parser");
  const { Validator } = require(core + "configManager/validator");
  // Validator() compiles the schema of every version it knows; the parser already holds one such
  // instance, so this one compiles only the versions the files name (same code, same schemas).
  const validator = Object.create(Validator.prototype);
  validator.impl = new Map();
  const results = [];
  for (const file of files) {
    const content = jsYaml.load(fs.readFileSync(file, "utf8"));
    const version = content?.version;
    const parsed = await yamlParser.parseRaw(path.resolve(file), true);
    const supported = validator.isVersionSupported(version ?? "");
    if (supported && !validator.impl.has(version)) validator.initVersion(version);
    const valid = supported && validator.validate(content, version);
    const errors = (validator.impl.get(version)?.validator.errors ?? []).map((e) => ({
      path: e.instancePath,
      message: e.message,
      params: e.params,
    }));
    results.push({
      file,
      version,
      supported,
      latest: validator.latestSupportedVersion(),
      parsed: parsed.isOk(),
      parseError: parsed.isErr() ? parsed.error.message : null,
      valid,
      errors: valid ? [] : errors,
      content,
    });
  }
  return results;
}

async function aad(manifestPath, outputPath) {
  const { buildAadManifest } = require(core + "driver/aad/utility/buildAadManifest");
  const { AadManifestHelper } = require(core + "driver/aad/utility/aadManifestHelper");
  const warnings = [];
  const context = {
    projectPath: process.cwd(),
    logProvider: {
      info() {},
      verbose() {},
      debug() {},
      warning: (message) => warnings.push(message),
      error: (message) => warnings.push(message),
    },
  };
  const manifest = await buildAadManifest(context, manifestPath, outputPath, {});
  return { manifest, warnings, application: AadManifestHelper.manifestToApplication(manifest) };
}

async function deployZip(directory, ignoreFile, zipPath) {
  const AdmZip = require("adm-zip");
  const { BaseDeployImpl } = require(core + "driver/deploy/azure/impl/baseDeployImpl");
  const { zipFolderAsync } = require(core + "utils/fileOperation");
  const warnings = [];
  // handleIgnore reads only the working directory; everything else of the driver needs Azure.
  const driver = Object.create(BaseDeployImpl.prototype);
  driver.workingDirectory = path.resolve(directory);
  const ignore = await driver.handleIgnore(
    { ignoreFile },
    { logProvider: { warning: (message) => warnings.push(message) } },
  );
  const stream = await zipFolderAsync(path.resolve(directory), path.resolve(zipPath), ignore);
  stream.destroy();
  const entries = new AdmZip(path.resolve(zipPath)).getEntries().map((entry) => entry.entryName);
  return { entries: entries.sort(), warnings };
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  const commands = {
    yaml: () => yaml(args),
    aad: () => aad(args[0], args[1]),
    "deploy-zip": () => deployZip(args[0], args[1], args[2]),
  };
  if (!commands[command]) {
    process.stderr.write("usage: node toolkit/check.js yaml FILE... | aad MANIFEST OUTPUT | deploy-zip DIR IGNORE ZIP\n");
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(await commands[command]()) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
