import { startNode } from "./apps.js";
import { describeHttpSemantics } from "./semantics.js";

describeHttpSemantics("node:http", startNode);
