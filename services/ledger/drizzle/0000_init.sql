CREATE TABLE "budget_spend" (
	"scope" text NOT NULL,
	"window" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"spent_usd" numeric(20, 9) NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "budget_spend_scope_window_window_start_pk" PRIMARY KEY("scope","window","window_start")
);
--> statement-breakpoint
CREATE TABLE "dead_letters" (
	"id" text PRIMARY KEY NOT NULL,
	"stage" text NOT NULL,
	"code" text NOT NULL,
	"reason" text NOT NULL,
	"subject" text NOT NULL,
	"task_id" text,
	"delivery_count" integer NOT NULL,
	"payload" text NOT NULL,
	"payload_bytes" integer NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "decisions" (
	"task_id" text PRIMARY KEY NOT NULL,
	"ok" boolean NOT NULL,
	"model" text,
	"fallbacks" jsonb NOT NULL,
	"reason" text NOT NULL,
	"forced_local" boolean NOT NULL,
	"budget_state" text NOT NULL,
	"estimated_cost_usd" numeric(20, 9),
	"error_code" text,
	"policy_version" text NOT NULL,
	"registry_version" text NOT NULL,
	"seed" bigint,
	"decided_at" timestamp with time zone NOT NULL,
	"inputs" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "feedback" (
	"feedback_id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"score" double precision,
	"success" boolean,
	"comment" text,
	"received_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "model_calls" (
	"call_id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"attempt" integer NOT NULL,
	"model" text NOT NULL,
	"provider" text NOT NULL,
	"ok" boolean NOT NULL,
	"error_code" text,
	"error_message" text,
	"input_tokens" integer NOT NULL,
	"output_tokens" integer NOT NULL,
	"cost_usd" numeric(20, 9) NOT NULL,
	"latency_ms" double precision NOT NULL,
	"simulated" boolean NOT NULL,
	"tenant" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"task_id" text PRIMARY KEY NOT NULL,
	"tenant" text NOT NULL,
	"status" text NOT NULL,
	"complexity" text NOT NULL,
	"risk" text NOT NULL,
	"task_type" text NOT NULL,
	"confidence" double precision NOT NULL,
	"classifier_strategy" text NOT NULL,
	"model" text,
	"input_tokens" integer NOT NULL,
	"output_tokens" integer NOT NULL,
	"cost_usd" numeric(20, 9) NOT NULL,
	"reference_model" text NOT NULL,
	"reference_cost_usd" numeric(20, 9) NOT NULL,
	"error_code" text,
	"simulated" boolean NOT NULL,
	"submitted_at" timestamp with time zone NOT NULL,
	"completed_at" timestamp with time zone NOT NULL,
	"latency_ms" double precision NOT NULL,
	"metadata" jsonb,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "feedback_task_idx" ON "feedback" USING btree ("task_id");--> statement-breakpoint
CREATE INDEX "model_calls_task_idx" ON "model_calls" USING btree ("task_id");--> statement-breakpoint
CREATE INDEX "model_calls_started_at_idx" ON "model_calls" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "tasks_completed_at_idx" ON "tasks" USING btree ("completed_at");--> statement-breakpoint
CREATE INDEX "tasks_tenant_idx" ON "tasks" USING btree ("tenant","completed_at");