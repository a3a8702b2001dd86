import { defineConfig } from "drizzle-kit";

// `npm run db:generate` writes a new migration here after a schema change; commit it.
export default defineConfig({
  dialect: "postgresql",
  schema: "./services/ledger/src/schema.ts",
  out: "./services/ledger/drizzle",
});
