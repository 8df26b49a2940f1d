import { OncelyModule } from "../../src/adapters/nest/index.js";
import type { StartServer } from "./app-spec.js";
import { appModule, type NestPlatform, specController, startNest } from "./nest-apps.js";
import { describeHttpSemantics } from "./semantics.js";

for (const platform of ["express", "fastify"] as NestPlatform[]) {
  const start =
    (rawBody: boolean): StartServer =>
    (idem, routes) =>
      startNest(
        platform,
        appModule({ imports: [OncelyModule.forRoot(idem)], controllers: [specController(platform, routes)] }),
        { rawBody },
      );
  // Nest parses the body before any interceptor: oncely sees the bytes only where Nest keeps them (`rawBody: true`).
  describeHttpSemantics(`nest (${platform})`, start(false), { bodyBytes: false });
  describeHttpSemantics(`nest (${platform}, rawBody)`, start(true));
}
