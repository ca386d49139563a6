import { createApiKey, tenantPattern } from "../../api/api-keys.js";
import { loadConfig } from "../../config/config.js";
import { createLogger } from "../../runtime/logger.js";
import { openRuntime } from "../../runtime/open-runtime.js";
import { builtinCatalog } from "../../steps/builtin-steps.js";
import { helpForAction, parseCommandArgs, requirePositional } from "../args.js";
import { CliError, ExitCodes } from "../cli-error.js";
import type { Command } from "../command.js";

const usage = `mediaflow keys create --tenant NAME [--name LABEL]
       mediaflow keys list [--tenant NAME]
       mediaflow keys revoke KEY_ID`;

/** API keys: a new key is printed once; only its hash is stored. */
export const keysCommand: Command = async (context) => {
  const [action, ...args] = context.args;
  helpForAction(action, usage);
  const config = loadConfig(context.env);
  const runtime = await openRuntime(config, builtinCatalog(), createLogger("warn"));
  const store = runtime.backend.apiKeys;
  try {
    switch (action) {
      case "create": {
        const { values } = parseCommandArgs(
          "keys create",
          args,
          { tenant: { type: "string" }, name: { type: "string" } },
          usage,
        );
        const tenant = values.tenant;
        if (tenant === undefined) throw new CliError(`missing --tenant\nusage: ${usage}`);
        if (!tenantPattern.test(tenant)) {
          throw new CliError(
            "--tenant must be lowercase letters, digits, - and _ (at most 63), starting with a letter or digit",
          );
        }
        const { key, record } = await createApiKey(store, tenant, values.name ?? null);
        context.stdout.write(`${key}\n`);
        context.stderr.write(`key ${record.id} for tenant ${tenant}: shown once, store it now\n`);
        return ExitCodes.ok;
      }
      case "list": {
        const { values } = parseCommandArgs("keys list", args, { tenant: { type: "string" } }, usage);
        for (const key of await store.list(values.tenant)) {
          const state =
            key.revokedAt === null ? "active" : `revoked ${new Date(key.revokedAt).toISOString()}`;
          context.stdout.write(
            `${key.id}  ${key.tenant.padEnd(16)} ${new Date(key.createdAt).toISOString()}  ${state}  ${key.name ?? ""}\n`,
          );
        }
        return ExitCodes.ok;
      }
      case "revoke": {
        const { positionals } = parseCommandArgs("keys revoke", args, {}, usage);
        const id = requirePositional(positionals, 0, "KEY_ID", usage);
        if (!(await store.revoke(id, Date.now()))) throw new CliError(`no key ${id}`, ExitCodes.failed);
        context.stdout.write(`key ${id} revoked\n`);
        return ExitCodes.ok;
      }
      default:
        throw new CliError(`unknown keys command ${JSON.stringify(action ?? "")}\nusage: ${usage}`);
    }
  } finally {
    await runtime.close();
  }
};
