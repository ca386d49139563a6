import { tenantPattern } from "../../api/api-keys.js";
import { webhookSchema } from "../../api/schemas.js";
import { loadConfig } from "../../config/config.js";
import { newWebhookSecret } from "../../notify/webhook-signature.js";
import { createLogger } from "../../runtime/logger.js";
import { openRuntime } from "../../runtime/open-runtime.js";
import { builtinCatalog } from "../../steps/builtin-steps.js";
import { helpForAction, parseCommandArgs, requirePositional } from "../args.js";
import { CliError, ExitCodes } from "../cli-error.js";
import type { Command } from "../command.js";

const usage = `mediaflow webhooks secret --tenant NAME
       mediaflow webhooks default --tenant NAME [--url URL [--events TYPE,...] | --clear]
       mediaflow webhooks deliveries JOB_ID`;

/**
 * Webhooks: a tenant's signing secret (made on first use, by this command or the first delivery), its
 * default webhook (for jobs created without one), and the deliveries of a job with their state and last
 * error.
 */
export const webhooksCommand: Command = async (context) => {
  const [action, ...args] = context.args;
  helpForAction(action, usage);
  const config = loadConfig(context.env);
  const runtime = await openRuntime(config, builtinCatalog(), createLogger("warn"));
  const outbox = runtime.backend.webhooks;
  try {
    switch (action) {
      case "secret": {
        const { values } = parseCommandArgs("webhooks secret", args, { tenant: { type: "string" } }, usage);
        const tenant = checkedTenant(values.tenant);
        context.stdout.write(`${await outbox.signingSecret(tenant, newWebhookSecret())}\n`);
        return ExitCodes.ok;
      }
      case "default": {
        const { values } = parseCommandArgs(
          "webhooks default",
          args,
          {
            tenant: { type: "string" },
            url: { type: "string" },
            events: { type: "string" },
            clear: { type: "boolean" },
          },
          usage,
        );
        const tenant = checkedTenant(values.tenant);
        if (values.clear) {
          await outbox.setTenantDefault(tenant, null, Date.now());
          context.stdout.write(`tenant ${tenant} has no default webhook now\n`);
          return ExitCodes.ok;
        }
        if (values.url !== undefined) {
          const parsed = webhookSchema.safeParse({
            url: values.url,
            ...(values.events === undefined
              ? {}
              : { events: values.events.split(",").map((type) => type.trim()) }),
          });
          if (!parsed.success) {
            throw new CliError(
              parsed.error.issues.map((issue) => `--${String(issue.path[0])}: ${issue.message}`).join("\n"),
            );
          }
          await outbox.setTenantDefault(tenant, parsed.data, Date.now());
        }
        const current = await outbox.getTenantDefault(tenant);
        context.stdout.write(
          current === undefined
            ? `tenant ${tenant} has no default webhook\n`
            : `${current.url}  ${current.events.join(",")}\n`,
        );
        return ExitCodes.ok;
      }
      case "deliveries": {
        const { positionals } = parseCommandArgs("webhooks deliveries", args, {}, usage);
        const jobId = requirePositional(positionals, 0, "JOB_ID", usage);
        for (const d of await outbox.listForJob(jobId)) {
          const error = d.lastError === null ? "" : `  ${d.lastError}`;
          context.stdout.write(
            `${d.id}  ${d.event.type.padEnd(14)} ${d.state.padEnd(9)} attempts ${d.attempts}  ${d.url}${error}\n`,
          );
        }
        return ExitCodes.ok;
      }
      default:
        throw new CliError(`unknown webhooks command ${JSON.stringify(action ?? "")}\nusage: ${usage}`);
    }
  } finally {
    await runtime.close();
  }
};

function checkedTenant(tenant: string | undefined): string {
  if (tenant === undefined) throw new CliError(`missing --tenant\nusage: ${usage}`);
  if (!tenantPattern.test(tenant)) throw new CliError(`invalid tenant ${JSON.stringify(tenant)}`);
  return tenant;
}
