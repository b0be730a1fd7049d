// Only what cryoviz's take-home viewer uses, so the bundle stays small.
export {
  WebGLRenderer, Scene, PerspectiveCamera, OrthographicCamera, Color, Mesh, MeshPhongMaterial, MeshBasicMaterial,
  BufferGeometry, BufferAttribute, Float32BufferAttribute, Uint32BufferAttribute, Vector3, Plane, Matrix4,
  AmbientLight, DirectionalLight, HemisphereLight, Group, DoubleSide, FrontSide, Points, PointsMaterial, SRGBColorSpace,
  LinearSRGBColorSpace, NoToneMapping
} from 'three';
export { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
