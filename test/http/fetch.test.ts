import { startFetch } from "./apps.js";
import { describeHttpSemantics } from "./semantics.js";

describeHttpSemantics("fetch", startFetch);
