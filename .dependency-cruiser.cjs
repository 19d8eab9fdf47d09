// The folders of src/ are layers, lowest first; a folder imports only from layers below it (or from
// itself). Folders on one line are peers and may not import each other either.
const LAYERS = [
  ["common"],
  ["topology"],
  ["stages"],
  ["status", "monitor", "orders"],
  ["telemetry"],
  ["bench", "dashboard"],
  ["runtime"],
  ["cli"],
];

const rules = LAYERS.flatMap((level, i) =>
  level.map((folder) => {
    const allowed = [...LAYERS.slice(0, i).flat(), folder];
    return {
      name: `layer-${folder}`,
      comment: `src/${folder} may import only from ${allowed.join(", ")} (see README, Layout)`,
      severity: "error",
      from: { path: `^src/${folder}/` },
      to: { path: "^src/", pathNot: `^src/(${allowed.join("|")})/` },
    };
  }),
);

module.exports = {
  forbidden: [
    ...rules,
    {
      name: "no-circular",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
