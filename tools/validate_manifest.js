#!/usr/bin/env node
// Validates a Teams app package folder OFFLINE against the JSON schemas bundled in the npm package
// @microsoft/app-manifest (node_modules/@microsoft/app-manifest/build/json-schemas/teams/v<version>/).
//
//   node tools/validate_manifest.js <folder with manifest.json>
//
// Checks manifest.json against MicrosoftTeams.schema.json of its manifestVersion, and every language file
// that localizationInfo names against MicrosoftTeams.Localization.schema.json of the same version, with the
// package's own validator (AppManifestUtils.validateAgainstSchema, ajv). The schema is always handed over
// explicitly and fetch() is disabled, so nothing is downloaded.
// The bundled localization schema has a pattern that is not a valid *unicode* regular expression
// ("\\b]" in the activities keys), which ajv's default `unicodeRegExp: true` refuses to compile, so language
// files are checked with the same ajv draft-04 + ajv-formats setup the package uses, resolved from the
// package's own dependencies, with `unicodeRegExp: false`.
// Prints one JSON object on stdout: {"package": {name, version}, "manifestVersion", "schemaDir", "checked": [...],
// "errors": ["file: /path message", ...]}; exit status 0 when valid, 1 when invalid, 2 when it cannot validate.
"use strict";

const fs = require("fs");
const path = require("path");

globalThis.fetch = async (url) => {
  throw new Error(`validate_manifest: network access refused (offline validation), asked for ${url}`);
};

function fail(message) {
  process.stdout.write(JSON.stringify({ errors: [message], fatal: true }) + "\n");
  process.exit(2);
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8").replace(/^\uFEFF/, ""));
  } catch (err) {
    fail(`${path.basename(file)}: cannot read JSON: ${err.message}`);
  }
  return undefined;
}

function validateLocalization(data, schema, packageDir) {
  const from = { paths: [packageDir] };
  const AjvDraft04 = require(require.resolve("ajv-draft-04", from));
  const addFormats = require(require.resolve("ajv-formats", from));
  const ajv = new (AjvDraft04.default || AjvDraft04)({ allErrors: true, strictTypes: false, unicodeRegExp: false });
  (addFormats.default || addFormats)(ajv, ["uri", "email", "regex"]);
  const validate = ajv.compile(schema);
  if (validate(data)) return [];
  return validate.errors.map((e) => `${e.instancePath} ${e.message || ""}. Details: ${JSON.stringify(e.params)}`);
}

async function main() {
  const dir = process.argv[2];
  if (!dir) fail("usage: node tools/validate_manifest.js <folder with manifest.json>");

  let lib;
  let pkgJsonPath;
  try {
    pkgJsonPath = require.resolve("@microsoft/app-manifest/package.json");
    lib = require("@microsoft/app-manifest");
  } catch (err) {
    fail(`cannot load @microsoft/app-manifest (and fs-extra beside it): ${err.message}; run npm ci`);
  }
  const pkg = readJson(pkgJsonPath);
  const manifestPath = path.join(dir, "manifest.json");
  const manifest = readJson(manifestPath);
  const version = manifest.manifestVersion;
  if (typeof version !== "string" || !/^\d+\.\d+$/.test(version)) {
    fail(`manifest.json: manifestVersion ${JSON.stringify(version)} is not a version such as "1.30"`);
  }
  const schemaDir = path.join(path.dirname(pkgJsonPath), "build", "json-schemas", "teams", `v${version}`);
  const manifestSchemaPath = path.join(schemaDir, "MicrosoftTeams.schema.json");
  if (!fs.existsSync(manifestSchemaPath)) {
    fail(`@microsoft/app-manifest ${pkg.version} bundles no schema for manifest version ${version}`);
  }
  const errors = [];
  const checked = [];
  const expectedSchemaUrl = `https://developer.microsoft.com/json-schemas/teams/v${version}/MicrosoftTeams.schema.json`;
  if (manifest.$schema !== expectedSchemaUrl) {
    errors.push(`manifest.json: $schema should be ${expectedSchemaUrl}`);
  }

  const utils = lib.AppManifestUtils;
  const report = (file, list) => list.forEach((e) => errors.push(`${file}: ${e.trim()}`));
  report("manifest.json", await utils.validateAgainstSchema(manifest, readJson(manifestSchemaPath)));
  checked.push({ file: "manifest.json", schema: path.relative(process.cwd(), manifestSchemaPath) });

  // The typed converter of this manifest version (runtime type checks of every property).
  try {
    lib.TeamsManifestConverter.jsonToManifest(fs.readFileSync(manifestPath, "utf8"));
  } catch (err) {
    errors.push(`manifest.json: ${err.message}`);
  }

  const info = manifest.localizationInfo || {};
  const languageFiles = [];
  if (info.defaultLanguageFile) languageFiles.push(info.defaultLanguageFile);
  for (const lang of info.additionalLanguages || []) languageFiles.push(lang.file);
  const localizationSchemaPath = path.join(schemaDir, "MicrosoftTeams.Localization.schema.json");
  for (const file of languageFiles) {
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) {
      errors.push(`${file}: named in localizationInfo but missing from the package`);
      continue;
    }
    report(file, validateLocalization(readJson(full), readJson(localizationSchemaPath), path.dirname(pkgJsonPath)));
    checked.push({ file, schema: path.relative(process.cwd(), localizationSchemaPath) });
  }

  process.stdout.write(JSON.stringify({
    package: { name: pkg.name, version: pkg.version },
    manifestVersion: version,
    schemaDir: path.relative(process.cwd(), schemaDir),
    checked,
    errors,
  }) + "\n");
  process.exit(errors.length ? 1 : 0);
}

main().catch((err) => fail(`validate_manifest: ${err && err.stack ? err.stack : err}`));
