import { OncelyModule } from "../../src/http/nest.js";
import { appModule, type NestPlatform, specController, startNest } from "./nest-apps.js";
import { describeHttpSemantics } from "./semantics.js";

for (const platform of ["express", "fastify"] as NestPlatform[]) {
  describeHttpSemantics(`nest (${platform})`, (idem, routes) =>
    startNest(
      platform,
      appModule({ imports: [OncelyModule.forRoot(idem)], controllers: [specController(platform, routes)] }),
    ),
  );
}
