import { describe, expect, it } from "vitest";
import { NoRespondersError, RequestError } from "@nats-io/transport-node";
import { ERROR_CODES, RouterError } from "@llm-router/shared";
import { checkSubmissions, publishFailure } from "./client.js";

describe("the router client", () => {
  it("refuses an invalid task before publishing anything, with the schema's reason", () => {
    expect(() => checkSubmissions([{ prompt: "fine" }, { prompt: "   " }])).toThrow(
      expect.objectContaining({ code: ERROR_CODES.MESSAGE_INVALID, message: "task 2 of 2 is not a valid submission: prompt: is empty or only whitespace" }),
    );
    expect(() => checkSubmissions([{ prompt: "x", constraints: { minQuality: 2 } }])).toThrow(expect.objectContaining({ code: ERROR_CODES.MESSAGE_INVALID }));
    expect(() => checkSubmissions([{ prompt: "fine", tenant: "acme" }])).not.toThrow();
  });

  it("says that no stream stores task.submitted when JetStream has no responder for it", () => {
    // What js.publish throws then: "jetstream is not enabled", caused by a no-responders request error.
    const subject = "dev.task.submitted";
    const thrown = new Error("jetstream is not enabled", { cause: new RequestError("no responders", { cause: new NoRespondersError(subject) }) });
    const err = publishFailure(thrown, subject, "127.0.0.1:4222");
    expect(err).toBeInstanceOf(RouterError);
    expect(err).toMatchObject({ code: ERROR_CODES.SERVICE_UNAVAILABLE, cause: thrown });
    expect(err.message).toBe("no stream stores dev.task.submitted on 127.0.0.1:4222: start the router (npm start), or check NATS_URL and the subject prefix");
    const other = new Error("connection closed");
    expect(publishFailure(other, subject, "127.0.0.1:4222")).toBe(other);
  });
});
