CREATE TABLE "stats_snapshots" (
	"stats_id" text PRIMARY KEY NOT NULL,
	"snapshot" jsonb NOT NULL,
	"published_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "stats_snapshots_published_at_idx" ON "stats_snapshots" USING btree ("published_at");